"""The quality gates and the sensors as both editions' DAG files place them, and the gates' operators: the
common-sql provider's checks, whose failure says what they measured (`GateFailed`)."""

from __future__ import annotations

from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator

from include.finance import sql
from include.finance.edition import AirflowException, AirflowFailException


class GateFailed(AirflowFailException):
    """A quality gate that failed: the message says what it measured against what is allowed, in the data's
    words (include/finance/quality/gates.py builds it). The task fails at once, without its retries: a data check
    gives the same answer on the same rows. A database that cannot be reached raises something else, and
    the gate is retried like any task."""


def _name(table: str) -> str:
    """'"public"."in_charge"' -> 'in_charge'."""
    return table.rsplit(".", 1)[-1].strip('"').replace('""', '"')


class _Explained:
    """What both gate operators share: the query a failure's sentence runs, the day it is about, and two rules:
    when telling a failure fails, the check's own failure is raised; what else the day held (`more`) is
    left out when it cannot be read."""

    def _query(self, statement: str, parameters: dict) -> list[tuple]:
        return self.get_db_hook().get_records(statement, parameters=parameters)

    @staticmethod
    def _day(context) -> str:
        return str(context.get("ds") or "the run's day")

    def _with_more(self, text: str, more, day: str) -> str:
        if more is None:
            return text
        try:
            return f"{text}; {more(self._query, day)}"
        except Exception:
            self.log.exception("%s: could not read what else the day held", self.task_id)
            return text

    def _raise_explained(self, failed: AirflowException, explain) -> None:
        try:
            message = explain()
        except Exception:  # the check's verdict stands; only its words are missing
            self.log.exception("could not tell what %s measured; the check's own report follows", self.task_id)
            raise failed
        raise GateFailed(message) from None


class TableGateOperator(_Explained, SQLTableCheckOperator):
    """`SQLTableCheckOperator` on `gates.Gate`s: the provider runs their checks in the database; when one
    fails, its figures are measured again and the error says them against the setting's name and value."""

    def __init__(self, *, gates: list, **kwargs):
        super().__init__(checks={name: check for gate in gates for name, check in gate.check().items()}, **kwargs)
        self.gates = gates

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException as failed:
            self._raise_explained(failed, lambda: self.explain(self._day(context)))

    def explain(self, day: str) -> str:
        """A line per failed gate (every gate when the check read nothing)."""
        failed = [gate for gate in self.gates if not self.checks[gate.name].get("success")] or self.gates
        said = []
        for gate in failed:
            (figures,) = self._query(gate.figures_query(self.table, self.partition_clause), {})
            said.append(self._with_more(gate.failure(dict(zip(gate.figures, figures)), day, _name(self.table)),
                                        gate.more, day))
        return "\n".join(said)


class RowsColumnCheckOperator(_Explained, SQLColumnCheckOperator):
    """`SQLColumnCheckOperator` that fails when there are no rows to check: the min or max of no rows is
    NULL, which the provider's check compares as 0 (`accept_none`), so an empty day would pass its range gates.
    A failure says what the failed checks measured, of how many rows (`more(query, day)` adds what else
    the day held: its files)."""

    def __init__(self, *, more=None, **kwargs):
        super().__init__(**kwargs)
        self.more = more

    def execute(self, context):
        from include.finance.quality import gates

        where = f" WHERE {self.partition_clause}" if self.partition_clause else ""
        (rows,) = self.get_db_hook().get_first(sql.text("gates/count_rows.sql", table=self.table, where=where))
        table, day = _name(self.table), self._day(context)
        noun = gates.ROWS_OF.get(table, "rows")
        if not rows:
            raise GateFailed(self._with_more(f"{table} has no {noun} on {day}: nothing to check, an empty day fails"
                                             " its gates", self.more, day))
        try:
            return super().execute(context)
        except AirflowException as failed:
            self._raise_explained(failed, lambda: self._with_more(
                f"{table} on {day}: " + "; ".join(gates.column_failures(self.column_mapping, rows, noun)), self.more, day))


# The quality gates as both editions' DAG files place them (what they assert and say: gates.py; their
# thresholds: config.py). A failing gate is not retried (GateFailed): the same rows give the same answer.

def _qualified(name: str, settings) -> str:
    return sql.quoted(settings.db_schema, name)


def _settings(settings):
    if settings is None:
        from include.finance.config import settings
    return settings


def loaded_checks(settings=None) -> list:
    """check_loaded's gates on the day's rows of each kind: columns, a row count, the share of rejected rows."""
    from include.finance import schema
    from include.finance.contract import CONTRACTS, KINDS
    from include.finance.quality import gates

    settings = _settings(settings)
    checks = []
    for kind in KINDS:
        name = CONTRACTS[kind].table
        table = _qualified(name, settings)
        checks += [
            RowsColumnCheckOperator(task_id=f"check_{name}_columns", conn_id=settings.db_conn_id, table=table,
                                    partition_clause=gates.DAY, column_mapping=gates.loaded_columns(kind),
                                    more=gates.day_files(settings.db_schema, kind)),
            TableGateOperator(task_id=f"check_{name}_rows", conn_id=settings.db_conn_id, table=table,
                              partition_clause=gates.DAY, gates=[gates.loaded_rows(settings, kind)]),
            TableGateOperator(task_id=f"check_{kind}_rejected_share", conn_id=settings.db_conn_id,
                              table=_qualified(schema.LOAD_AUDIT, settings), partition_clause=gates.day_of_kind(kind),
                              gates=[gates.few_rejects(settings, kind)]),
        ]
    return checks


def model_input_check(settings=None):
    """check_model_input: what the day's model table leaves out stays under its limits."""
    from include.finance import schema
    from include.finance.quality import gates

    settings = _settings(settings)
    return TableGateOperator(task_id="check_model_input", conn_id=settings.db_conn_id,
                             table=_qualified(schema.MODEL_INPUT_AUDIT, settings), partition_clause=gates.DAY,
                             gates=gates.model_input(settings))


def model_satisfaction_checks(settings=None) -> list:
    """check_model_satisfaction's gates on the staging table, before it is published."""
    from include.finance import schema
    from include.finance.quality import gates

    settings = _settings(settings)
    table = _qualified(schema.MODEL_SATISFACTION_STAGING, settings)
    return [
        RowsColumnCheckOperator(task_id="check_model_satisfaction_columns", conn_id=settings.db_conn_id, table=table,
                                column_mapping=gates.model_satisfaction_columns(settings)),
        TableGateOperator(task_id="check_model_satisfaction_rows", conn_id=settings.db_conn_id, table=table,
                          gates=[gates.model_rows(settings)]),
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
    from include.finance.ingestion.bucket import manifest_key

    return [S3KeySensor(task_id=f"wait_for_ingest_{kind}", bucket_key=manifest_key(kind, "{{ ds }}")) for kind in KINDS]
