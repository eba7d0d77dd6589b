"""
### Load the day's finance files into Postgres and build `model_satisfaction`

1. `wait_for_ingest`: deferrable S3 sensors (they wait in the triggerer, not in a worker slot) wait
   for the manifests `in_finance_data` writes once a day's charge and satisfaction files are complete.
2. `s3_to_db_glob`: the Astro SDK's `LoadFileOperator`, mapped over the two kinds, loads every part
   file of the day into `in_charge` and `in_satisfaction` (replacing the previous load).
3. `@aql.transform` steps in SQL: successful charges -> average captured amount per customer ->
   joined with the satisfaction scores into the permanent table `model_satisfaction`.
4. `cleanup` drops the temporary tables once everything else has finished.

Updating `model_satisfaction` emits the dataset `finance_ml` is scheduled on.
"""

from datetime import datetime, timedelta

from airflow.datasets import Dataset
from airflow.decorators import dag, task, task_group
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from astro import sql as aql
from astro.sql.operators.load_file import LoadFileOperator
from astro.table import Metadata, Table

from include.finance import config, sql
from include.finance.storage import manifest_key

model_satisfaction_dataset = Dataset(config.MODEL_SATISFACTION_DATASET_URI)


def _table(name: str) -> Table:
    return Table(conn_id=config.DB_CONN_ID, name=name, metadata=Metadata(schema=config.DB_SCHEMA))


@aql.transform()
def select_successful_charges(in_charge: Table) -> Table:
    return sql.SELECT_SUCCESSFUL_CHARGES


@aql.transform()
def avg_successful_per_customer(successful_charges: Table) -> Table:
    return sql.AVG_SUCCESSFUL_PER_CUSTOMER


# The plain Dataset outlet is what schedules finance_ml (the Table's own astro:// URI does not
# fire under a real scheduler on Airflow 2.11).
@aql.transform(outlets=[model_satisfaction_dataset])
def join_charge_satisfaction(avg_per_customer: Table, in_satisfaction: Table) -> Table:
    return sql.JOIN_CHARGE_SATISFACTION


@dag(
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["finance", "elt", "astro-sdk"],
    doc_md=__doc__,
)
def finance_elt():
    @task_group(
        default_args={
            "aws_conn_id": config.AWS_CONN_ID,
            "bucket_name": config.DATA_BUCKET_NAME,
            "deferrable": True,
            "poke_interval": config.POKE_INTERVAL,
            "timeout": config.SENSOR_TIMEOUT,
        }
    )
    def wait_for_ingest():
        for kind in config.FILE_KINDS:
            S3KeySensor(task_id=f"wait_for_ingest_{kind}", bucket_key=manifest_key(kind, "{{ ds }}"))

    @task
    def retrieve_input_files(ds=None) -> list[dict]:
        """One LoadFileOperator input per kind: every part file of the day into its `in_` table."""
        from astro.constants import FileType
        from astro.files import File

        from include.finance.storage import partition_prefix

        return [
            {
                "input_file": File(
                    path=f"s3://{config.DATA_BUCKET_NAME}/{partition_prefix(kind, ds)}",
                    conn_id=config.AWS_CONN_ID,
                    filetype=FileType.CSV,
                ),
                "output_table": _table(f"in_{kind}"),
            }
            for kind in config.FILE_KINDS
        ]

    s3_to_db_glob = LoadFileOperator.partial(task_id="s3_to_db_glob", if_exists="replace").expand_kwargs(
        retrieve_input_files()
    )
    wait_for_ingest() >> s3_to_db_glob

    successful_charges = select_successful_charges(_table(config.IN_CHARGE_TABLE))
    s3_to_db_glob >> successful_charges
    join_charge_satisfaction(
        avg_successful_per_customer(successful_charges),
        _table(config.IN_SATISFACTION_TABLE),
        output_table=_table(config.MODEL_SATISFACTION_TABLE),
    )

    aql.cleanup()


finance_elt()
