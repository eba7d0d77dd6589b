"""The quality gates and the sensors as both editions' DAG files place them, and the gates' operator beyond
what the common-sql provider has."""

from __future__ import annotations

from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator

from include.finance.compat import AirflowException


class RowsColumnCheckOperator(SQLColumnCheckOperator):
    """`SQLColumnCheckOperator` that fails when there are no rows to check: the min or max of no rows is
    NULL, which the provider's check compares as 0 (`accept_none`), so an empty day would pass its range gates."""

    def execute(self, context):
        where = f" WHERE {self.partition_clause}" if self.partition_clause else ""
        (rows,) = self.get_db_hook().get_first(f"SELECT COUNT(*) FROM {self.table}{where}")
        if not rows:
            raise AirflowException(f"{self.table}{where}: no rows, nothing to check: an empty day fails its gates")
        return super().execute(context)


# The quality gates as both editions' DAG files place them (their thresholds: gates.py and config.py).

def _qualified(name: str) -> str:
    from include.finance import schema
    from include.finance.config import settings

    return schema.quoted(settings.db_schema, name)


def loaded_checks() -> list:
    """check_loaded's gates on the day's rows of each kind: columns, a row count, the share of rejected rows."""
    from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator

    from include.finance import gates, schema
    from include.finance.config import settings
    from include.finance.contract import CONTRACTS, KINDS

    checks = []
    for kind in KINDS:
        table = _qualified(CONTRACTS[kind].table)
        name = CONTRACTS[kind].table
        checks += [
            RowsColumnCheckOperator(task_id=f"check_{name}_columns", conn_id=settings.db_conn_id, table=table,
                                    partition_clause=gates.DAY, column_mapping=gates.loaded_columns(kind)),
            SQLTableCheckOperator(task_id=f"check_{name}_rows", conn_id=settings.db_conn_id, table=table,
                                  partition_clause=gates.DAY, checks=gates.enough_rows(settings.min_input_rows)),
            SQLTableCheckOperator(task_id=f"check_{kind}_rejected_share", conn_id=settings.db_conn_id,
                                  table=_qualified(schema.LOAD_AUDIT), partition_clause=gates.day_of_kind(kind),
                                  checks=gates.few_rejects(settings)),
        ]
    return checks


def model_input_check():
    """check_model_input: what the day's model table leaves out stays under its limits."""
    from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator

    from include.finance import gates, schema
    from include.finance.config import settings

    return SQLTableCheckOperator(task_id="check_model_input", conn_id=settings.db_conn_id,
                                 table=_qualified(schema.MODEL_INPUT_AUDIT), partition_clause=gates.DAY,
                                 checks=gates.model_input(settings))


def model_satisfaction_checks() -> list:
    """check_model_satisfaction's gates on the staging table, before it is published."""
    from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator

    from include.finance import gates, schema
    from include.finance.config import settings

    table = _qualified(schema.MODEL_SATISFACTION_STAGING)
    return [
        RowsColumnCheckOperator(task_id="check_model_satisfaction_columns", conn_id=settings.db_conn_id, table=table,
                                column_mapping=gates.model_satisfaction_columns(settings)),
        SQLTableCheckOperator(task_id="check_model_satisfaction_rows", conn_id=settings.db_conn_id, table=table,
                              checks=gates.enough_rows(settings.min_model_rows)),
    ]


def ingest_sensor_args() -> dict:
    """The default_args of wait_for_ingest's sensors: deferrable, on the bucket, retried with backoff."""
    from datetime import timedelta

    from include.finance.config import settings

    return {"aws_conn_id": settings.aws_conn_id, "bucket_name": settings.data_bucket_name, "deferrable": True,
            "poke_interval": settings.poke_interval, "timeout": settings.sensor_timeout,
            "retries": settings.sensor_retries, "retry_delay": timedelta(seconds=settings.sensor_retry_delay),
            "retry_exponential_backoff": True}


def ingest_sensors() -> list:
    """wait_for_ingest: a deferrable sensor per kind on the day's manifest (in_finance_data writes it last)."""
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    from include.finance.contract import KINDS
    from include.finance.storage import manifest_key

    return [S3KeySensor(task_id=f"wait_for_ingest_{kind}", bucket_key=manifest_key(kind, "{{ ds }}")) for kind in KINDS]
