"""The quality gates' operator beyond what the common-sql provider has; both editions run it."""

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
