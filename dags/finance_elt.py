"""
### Load the day's finance files into Postgres under a data contract and build `model_satisfaction`

1. `wait_for_ingest`: deferrable S3 sensors (they wait in the triggerer, not in a worker slot) wait
   for the manifests `in_finance_data` writes once a day's charge and satisfaction files are complete.
   An unreachable endpoint is retried with backoff (`SENSOR_RETRIES`).
2. `check_input_files` checks that every file the day's manifest lists is in the bucket and every
   header against the contract (`include/finance/contract.py`): a missing file or a missing required
   column fails the run before anything is written. Files the manifest does not list, and files that
   are not `.csv` or `.csv.gz`, are not loaded: `load_audit` lists them as ignored.
3. `create_tables` creates the schema and the tables that are missing (`include/finance/schema.py`,
   `include/finance/sql/tables/`); it changes nothing that exists.
4. `load_input_files`, a `LoadFileOperator` mapped over the two kinds, streams every listed file (a
   `.csv.gz` decompressed on the way; a file whose lines differ from its manifest fails the load) into
   the day's partition of `in_charge` / `in_satisfaction` (typed columns, matched by name). Rows that
   break the contract go to `load_rejects` with file, line, reason and raw text; `load_audit` accounts
   for every row per file. The partition is swapped in one transaction: a rerun replaces its day, a
   backfill adds days.
5. `check_loaded`: quality gates on the day's rows (no null or duplicate keys, value ranges, a row
   count, a limit on the share of rejected rows).
6. `audit_model_input` counts what the model table leaves out into `model_input_audit`: charges in
   another currency than `MODEL_CURRENCY`, charges above `MAX_CHARGE_AMOUNT` (they stay in `in_charge`),
   survey answers of customers without a charge that day; `check_model_input` fails the day when too
   many were implausible or orphaned (`MAX_IMPLAUSIBLE_SHARE`, `MAX_ORPHAN_SHARE`). Then the transforms
   (`aql.transform_file`, `include/finance/sql/*.sql`): successful charges in that currency with a
   plausible amount -> average captured amount per customer -> joined with the satisfaction scores
   into `model_satisfaction_staging`.
7. `check_model_satisfaction`: quality gates on that table; only then `publish_model_satisfaction`
   replaces the day's rows of `model_satisfaction` by it (one table, a day per `ds`) and emits the
   dataset `finance_ml` is scheduled on, with the day.
8. `cleanup` drops the temporary tables once everything else has finished (a teardown task).

Thresholds of the gates live in `include/finance/config.py`.
"""

from airflow.datasets import Dataset
from airflow.decorators import dag, task, task_group
from astro import sql as aql
from astro.table import Metadata, Table

from include.finance import schema, sql, tasks
from include.finance.config import settings
from include.finance.contract import CONTRACTS
from include.finance.dag_defaults import DAG_DEFAULTS, DAILY, default_args
from include.finance.operators import CleanupOperator, ContractLoadOperator, day_loads
from include.finance.quality import gate_operators

model_satisfaction_dataset = Dataset(schema.model_satisfaction_uri())
IN_CHARGE, IN_SATISFACTION = CONTRACTS["charge"].table, CONTRACTS["satisfaction"].table


def _table(name: str) -> Table:
    return Table(conn_id=settings.db_conn_id, name=name, metadata=Metadata(schema=settings.db_schema))



@task
def check_input_files(ds=None) -> list[dict]:
    """The arguments of the day's load_input_files, one per kind, once every file the day's manifest lists
    is in the bucket and every header passed the contract."""
    return day_loads(ds, settings)


create_tables = task(tasks.create_tables)
audit_model_input = task(tasks.audit_model_input)


# The plain Dataset outlet is what schedules finance_ml (an astro Table's own astro:// URI does not
# fire under a real scheduler on Airflow 2.11).
@task(outlets=[model_satisfaction_dataset])
def publish_model_satisfaction(ds=None, data_interval_start=None, data_interval_end=None, outlet_events=None):
    """Replace the day of model_satisfaction by the checked staging table in one transaction.

    The dataset event carries the day, which finance_ml reads (and names in its model card).
    """
    outlet_events[model_satisfaction_dataset].extra = tasks.publish_model_satisfaction(
        ds, data_interval_start, data_interval_end)


@dag(
    schedule=DAILY,
    default_args=default_args("data-eng"),
    **DAG_DEFAULTS,
    tags=["finance", "elt", "astro-sdk"],
    doc_md=__doc__,
    template_searchpath=[str(sql.FOLDER)],  # the transforms' .sql files, read when the DAG is parsed
)
def finance_elt():
    @task_group(default_args=gate_operators.ingest_sensor_args())
    def wait_for_ingest():
        gate_operators.ingest_sensors()

    loads = check_input_files()
    loaded = ContractLoadOperator.partial(task_id="load_input_files").expand_kwargs(loads)
    wait_for_ingest() >> loads >> create_tables() >> loaded

    @task_group
    def check_loaded():
        gate_operators.loaded_checks()

    check_model_input = gate_operators.model_input_check()
    successful_charges = aql.transform_file(
        "select_successful_charges.sql", task_id="select_successful_charges",
        parameters={"in_charge": _table(IN_CHARGE), "day": "{{ ds }}", "currency": settings.model_currency,
                    "max_amount": settings.max_charge_amount},
    )
    loaded >> check_loaded() >> audit_model_input() >> check_model_input >> successful_charges
    avg_per_customer = aql.transform_file(
        "avg_successful_per_customer.sql", task_id="avg_successful_per_customer",
        parameters={"successful_charges": successful_charges},
    )
    staging = aql.transform_file(
        "join_charge_satisfaction.sql", task_id="join_charge_satisfaction",
        parameters={"avg_per_customer": avg_per_customer, "in_satisfaction": _table(IN_SATISFACTION), "day": "{{ ds }}"},
        op_kwargs={"output_table": _table(schema.MODEL_SATISFACTION_STAGING)},
    )

    @task_group
    def check_model_satisfaction():
        gate_operators.model_satisfaction_checks()

    published = staging >> check_model_satisfaction() >> publish_model_satisfaction()

    # A teardown after the last task: it runs once every task is done, whatever its state, and does not
    # decide the run's state (a plain aql.cleanup() waits for the run in a worker slot, polling).
    published >> CleanupOperator(task_id="cleanup", run_sync_mode=True).as_teardown()


finance_elt()
