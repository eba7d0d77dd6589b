"""
### Load the day's finance files into Postgres under a data contract and build `model_satisfaction` (Airflow 3 edition)

The same tasks, gates and tables as the default edition's `dags/finance_elt.py` (its description says what
each task does), with Airflow 3's own pieces where that one uses the Astro SDK (docs/airflow3.md):

- `load_input_files`: the project's `ContractLoadOperator` as a plain operator (the same load, the same
  lineage) instead of the SDK's `LoadFileOperator`;
- `select_successful_charges`, `avg_successful_per_customer`, `join_charge_satisfaction`: the same
  `include/finance/sql/*.sql` run by the common-sql provider's `SQLExecuteQueryOperator` instead of
  `aql.transform_file`;
- `publish_model_satisfaction` emits the asset `finance_ml` is scheduled on (an Asset, not a Dataset);
- `cleanup`, a teardown dropping the transforms' tables, instead of `aql.cleanup`.
"""

from airflow.sdk import Asset, dag, task, task_group

from include.finance import schema, tasks
from include.finance.config import settings
from include.finance.contract import CONTRACTS
from include.finance.dag_defaults import DAG_DEFAULTS, DAILY, default_args
from include.finance.operators_airflow3 import (AVG_PER_CUSTOMER, SUCCESSFUL_CHARGES, ContractLoadOperator, cleanup,
                                                day_loads, transform)
from include.finance.quality import gate_operators

model_satisfaction_asset = Asset(schema.model_satisfaction_uri())
IN_CHARGE, IN_SATISFACTION = CONTRACTS["charge"].table, CONTRACTS["satisfaction"].table



@task
def check_input_files(ds=None) -> list[dict]:
    """The arguments of the day's load_input_files, one per kind, once every file the day's manifest lists
    is in the bucket and every header passed the contract."""
    return day_loads(ds, settings)


create_tables = task(tasks.create_tables)
audit_model_input = task(tasks.audit_model_input)


@task(outlets=[model_satisfaction_asset])
def publish_model_satisfaction(ds=None, data_interval_start=None, data_interval_end=None, outlet_events=None):
    """Replace the day of model_satisfaction by the checked staging table in one transaction.

    The asset event carries the day, which finance_ml reads (and names in its model card).
    """
    outlet_events[model_satisfaction_asset].extra = tasks.publish_model_satisfaction(
        ds, data_interval_start, data_interval_end)


@dag(
    schedule=DAILY,
    default_args=default_args("data-eng"),
    **DAG_DEFAULTS,
    tags=["finance", "elt", "airflow-3"],
    doc_md=__doc__,
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
    successful_charges = transform(
        "select_successful_charges.sql", SUCCESSFUL_CHARGES, tables={"in_charge": IN_CHARGE},
        parameters={"day": "{{ ds }}", "currency": settings.model_currency, "max_amount": settings.max_charge_amount},
    )
    loaded >> check_loaded() >> audit_model_input() >> check_model_input >> successful_charges
    avg_per_customer = transform("avg_successful_per_customer.sql", AVG_PER_CUSTOMER,
                                 tables={"successful_charges": SUCCESSFUL_CHARGES}, parameters={})
    staging = transform(
        "join_charge_satisfaction.sql", schema.MODEL_SATISFACTION_STAGING,
        tables={"avg_per_customer": AVG_PER_CUSTOMER, "in_satisfaction": IN_SATISFACTION},
        parameters={"day": "{{ ds }}"},
    )
    successful_charges >> avg_per_customer >> staging

    @task_group
    def check_model_satisfaction():
        gate_operators.model_satisfaction_checks()

    published = staging >> check_model_satisfaction() >> publish_model_satisfaction()

    # A teardown after the last task: it runs once every task is done, whatever its state, and does not
    # decide the run's state.
    published >> cleanup().as_teardown()


finance_elt()
