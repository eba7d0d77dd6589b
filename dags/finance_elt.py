"""
### Load the day's finance files into Postgres under a data contract and build `model_satisfaction`

1. `wait_for_ingest`: deferrable S3 sensors (they wait in the triggerer, not in a worker slot) wait
   for the manifests `in_finance_data` writes once a day's charge and satisfaction files are complete.
   An unreachable endpoint is retried with backoff (`SENSOR_RETRIES`).
2. `retrieve_input_files` checks that every file the day's manifest lists is in the bucket and every
   header against the contract (`include/finance/contract.py`): a missing file or a missing required
   column fails the run before anything is written. Files the manifest does not list, and files that
   are not `.csv` or `.csv.gz`, are not loaded: `load_audit` lists them as ignored.
3. `s3_to_db_glob`, mapped over the two kinds, streams every listed file (a `.csv.gz` decompressed on
   the way; a file whose lines differ from its manifest fails the load) into the day's partition of
   `in_charge` / `in_satisfaction` (typed columns, matched by name). Rows that break the contract go to
   `load_rejects` with file, line, reason and raw text; `load_audit` accounts for every row per file.
   The partition is swapped in one transaction: a rerun replaces its day, a backfill adds days.
4. `check_loaded`: quality gates on the day's rows (no null or duplicate keys, value ranges, a row
   count, a limit on the share of rejected rows).
5. `audit_model_input` counts what the model table leaves out into `model_input_audit`: charges in
   another currency than `MODEL_CURRENCY`, charges above `MAX_CHARGE_AMOUNT` (they stay in `in_charge`),
   survey answers of customers without a charge that day; `check_model_input` fails the day when too
   many were implausible or orphaned (`MAX_IMPLAUSIBLE_SHARE`, `MAX_ORPHAN_SHARE`). Then
   `@aql.transform` steps in SQL: successful charges in that currency with a plausible amount ->
   average captured amount per customer -> joined with the satisfaction scores into
   `model_satisfaction_staging`.
6. `check_model_satisfaction`: quality gates on that table; only then `publish_model_satisfaction`
   swaps it in as `model_satisfaction` and emits the dataset `finance_ml` is scheduled on.
7. `cleanup` drops the temporary tables once everything else has finished (a teardown task).

Thresholds of the gates live in `include/finance/config.py`.
"""

from datetime import datetime, timedelta

from airflow.datasets import Dataset
from airflow.decorators import dag, task, task_group
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator
from astro import sql as aql
from astro.table import Metadata, Table

from include.finance import alerts, schema, sql
from include.finance.config import settings
from include.finance.contract import CONTRACTS, KINDS
from include.finance.operators import ContractLoadOperator, RowsColumnCheckOperator
from include.finance.storage import manifest_key

model_satisfaction_dataset = Dataset(settings.model_satisfaction_dataset_uri)


def _table(name: str) -> Table:
    return Table(conn_id=settings.db_conn_id, name=name, metadata=Metadata(schema=settings.db_schema))


def _qualified(name: str) -> str:
    return f"{settings.db_schema}.{name}"


SCORES_FROM_0_TO_10 = {
    f"customer_satisfaction_{aspect}": {"min": {"geq_to": 0}, "max": {"leq_to": 10}}
    for aspect in ("speed", "product", "service")
}


@aql.transform()
def select_successful_charges(in_charge: Table, day: str, currency: str, max_amount: int) -> Table:
    return sql.SELECT_SUCCESSFUL_CHARGES


@task
def audit_model_input(ds=None, run_id=None) -> dict:
    """Count what the day's model table will leave out (charges in other currencies or with an
    implausible amount, survey answers without charges) into model_input_audit; the rows stay loaded."""
    from contextlib import closing

    from airflow.providers.postgres.hooks.postgres import PostgresHook

    params = {"ds": ds, "run_id": run_id, "currency": settings.model_currency, "max_amount": settings.max_charge_amount}
    with closing(PostgresHook(postgres_conn_id=settings.db_conn_id).get_conn()) as conn, conn, conn.cursor() as cur:
        cur.execute(sql.MODEL_INPUT_AUDIT_TABLE.format(schema=settings.db_schema))
        cur.execute(sql.MODEL_INPUT_AUDIT.format(schema=settings.db_schema), params)
        cur.execute(f"SELECT * FROM {settings.db_schema}.model_input_audit WHERE ds = %s", (ds,))
        counts = dict(zip([c.name for c in cur.description], cur.fetchone()))
    return {k: counts[k] for k in ("successful_charges", "other_currency_charges", "implausible_charges",
                                    "survey_answers", "orphan_surveys")}


@aql.transform()
def avg_successful_per_customer(successful_charges: Table) -> Table:
    return sql.AVG_SUCCESSFUL_PER_CUSTOMER


@aql.transform()
def join_charge_satisfaction(avg_per_customer: Table, in_satisfaction: Table, day: str) -> Table:
    return sql.JOIN_CHARGE_SATISFACTION


# The plain Dataset outlet is what schedules finance_ml (an astro Table's own astro:// URI does not
# fire under a real scheduler on Airflow 2.11).
@task(outlets=[model_satisfaction_dataset])
def publish_model_satisfaction(ds=None, data_interval_start=None, data_interval_end=None, outlet_events=None):
    """Replace model_satisfaction by the checked staging table in one transaction.

    The dataset event carries the day the table was built from, for finance_ml's model card.
    """
    from contextlib import closing

    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from include.finance.load import swap_table

    with closing(PostgresHook(postgres_conn_id=settings.db_conn_id).get_conn()) as conn:
        swap_table(conn, settings.db_schema, schema.MODEL_SATISFACTION_STAGING, schema.MODEL_SATISFACTION)
    outlet_events[model_satisfaction_dataset].extra = {
        "ds": ds,
        "data_interval_start": data_interval_start.isoformat(),
        "data_interval_end": data_interval_end.isoformat(),
    }


@dag(
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "on_failure_callback": alerts.FAILURE_CALLBACKS},
    tags=["finance", "elt", "astro-sdk"],
    doc_md=__doc__,
)
def finance_elt():
    @task_group(
        default_args={
            "aws_conn_id": settings.aws_conn_id,
            "bucket_name": settings.data_bucket_name,
            "deferrable": True,
            "poke_interval": settings.poke_interval,
            "timeout": settings.sensor_timeout,
            "retries": settings.sensor_retries,
            "retry_delay": timedelta(seconds=settings.sensor_retry_delay),
            "retry_exponential_backoff": True,
        }
    )
    def wait_for_ingest():
        for kind in KINDS:
            S3KeySensor(task_id=f"wait_for_ingest_{kind}", bucket_key=manifest_key(kind, "{{ ds }}"))

    @task
    def retrieve_input_files(ds=None) -> list[dict]:
        """One load per kind: the day's part files, once every file its manifest lists is in the bucket
        and every header passed the contract."""
        from contextlib import closing

        from airflow.exceptions import AirflowFailException
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from astro.constants import FileType
        from astro.files import File

        from include.finance import load
        from include.finance.operators import check_input_files
        from include.finance.storage import partition_prefix

        paths = {kind: f"s3://{settings.data_bucket_name}/{partition_prefix(kind, ds)}" for kind in KINDS}
        manifests = {kind: f"s3://{settings.data_bucket_name}/{manifest_key(kind, ds)}" for kind in KINDS}
        errors = check_input_files(S3Hook(aws_conn_id=settings.aws_conn_id), paths, manifests)
        if errors:  # no retry: the files will not change by themselves
            raise AirflowFailException("input files break the data contract, nothing was loaded:\n" + "\n".join(errors))
        with closing(PostgresHook(postgres_conn_id=settings.db_conn_id).get_conn()) as conn:
            load.create_tables(conn, settings.db_schema)
        return [
            {
                "input_file": File(path=path, conn_id=settings.aws_conn_id, filetype=FileType.CSV),
                "output_table": _table(CONTRACTS[kind].table),
                "kind": kind,
                "manifest": manifests[kind],
            }
            for kind, path in paths.items()
        ]

    input_files = retrieve_input_files()
    wait_for_ingest() >> input_files
    s3_to_db_glob = ContractLoadOperator.partial(task_id="s3_to_db_glob").expand_kwargs(input_files)

    @task_group(default_args={"conn_id": settings.db_conn_id})
    def check_loaded():
        day = "ds = '{{ ds }}'"
        RowsColumnCheckOperator(
            task_id="check_in_charge_columns",
            table=_qualified(CONTRACTS["charge"].table),
            partition_clause=day,
            column_mapping={
                "id": {"null_check": {"equal_to": 0}, "unique_check": {"equal_to": 0}},
                "customer_id": {"null_check": {"equal_to": 0}},
                "amount": {"min": {"geq_to": 0}},
                "amount_captured": {"min": {"geq_to": 0}},
            },
        )
        RowsColumnCheckOperator(
            task_id="check_in_satisfaction_columns",
            table=_qualified(CONTRACTS["satisfaction"].table),
            partition_clause=day,
            column_mapping={
                "customer_id": {"null_check": {"equal_to": 0}, "unique_check": {"equal_to": 0}},
                **SCORES_FROM_0_TO_10,
            },
        )
        for table in (CONTRACTS["charge"].table, CONTRACTS["satisfaction"].table):
            SQLTableCheckOperator(
                task_id=f"check_{table}_rows",
                table=_qualified(table),
                partition_clause=day,
                checks={"enough_rows": {"check_statement": f"COUNT(*) >= {settings.min_input_rows}"}},
            )
        for kind in KINDS:
            SQLTableCheckOperator(
                task_id=f"check_{kind}_rejected_share",
                table=_qualified("load_audit"),
                partition_clause=f"{day} AND kind = '{kind}'",
                checks={"few_rejects": {
                    "check_statement": f"SUM(rows_rejected) <= {settings.max_rejected_share} * GREATEST(SUM(rows_read), 1)"
                }},
            )

    check_model_input = SQLTableCheckOperator(
        task_id="check_model_input",
        conn_id=settings.db_conn_id,
        table=_qualified("model_input_audit"),
        partition_clause="ds = '{{ ds }}'",
        checks={
            "few_implausible_charges": {"check_statement": "implausible_charges <= "
                                        f"{settings.max_implausible_share} * GREATEST(successful_charges - other_currency_charges, 1)"},
            "few_orphan_surveys": {"check_statement": f"orphan_surveys <= {settings.max_orphan_share} * GREATEST(survey_answers, 1)"},
        },
    )
    successful_charges = select_successful_charges(_table(CONTRACTS["charge"].table), day="{{ ds }}",
                                                   currency=settings.model_currency, max_amount=settings.max_charge_amount)
    s3_to_db_glob >> check_loaded() >> audit_model_input() >> check_model_input >> successful_charges
    staging = join_charge_satisfaction(
        avg_successful_per_customer(successful_charges),
        _table(CONTRACTS["satisfaction"].table),
        day="{{ ds }}",
        output_table=_table(schema.MODEL_SATISFACTION_STAGING),
    )

    @task_group(default_args={"conn_id": settings.db_conn_id})
    def check_model_satisfaction():
        table = _qualified(schema.MODEL_SATISFACTION_STAGING)
        RowsColumnCheckOperator(
            task_id="check_model_satisfaction_columns",
            table=table,
            column_mapping={
                "customer_id": {"null_check": {"equal_to": 0}, "unique_check": {"equal_to": 0}},
                "avg_amount_captured": {
                    "null_check": {"equal_to": 0}, "min": {"geq_to": 0}, "max": {"leq_to": settings.max_charge_amount},
                },
                **SCORES_FROM_0_TO_10,
            },
        )
        SQLTableCheckOperator(
            task_id="check_model_satisfaction_rows",
            table=table,
            checks={"enough_rows": {"check_statement": f"COUNT(*) >= {settings.min_model_rows}"}},
        )

    published = staging >> check_model_satisfaction() >> publish_model_satisfaction()

    # A teardown after the last task: it runs once every task is done, whatever its state, and does not
    # decide the run's state (a plain aql.cleanup() waits for the run in a worker slot, polling).
    published >> aql.cleanup(run_sync_mode=True).as_teardown()


finance_elt()
