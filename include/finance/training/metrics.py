"""The model metrics table (`include/finance/sql/tables/model_metrics.sql`): one row per finance_ml run
and model, rewritten when a run is retried."""

from __future__ import annotations

import json

from include.finance import sql
from include.finance.schema import insert_statement

JSON_COLUMNS = ("feature_importance", "coefficients", "hyper_parameters")
COLUMNS = ("cv_r2", "cv_r2_std", "cv_folds", "r2_train", "r2_test", "fit_seconds", "feature_importance",
           "coefficients", "hyper_parameters")


def _value(result: dict, column: str):
    value = result.get(column)
    return json.dumps(value) if column in JSON_COLUMNS and value is not None else value


def store_metrics(conn, schema: str, table: str, run_id: str, results: list[dict]) -> int:
    """Replace the run's rows in `schema.table` with `results`, in one transaction.

    `conn` is a psycopg2 connection (PostgresHook.get_conn()); the table exists (`schema.create_tables`).
    Returns the number of rows written.
    """
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("ml/clear_run.sql", table=(schema, table)), (run_id,))
        cur.executemany(insert_statement(schema, table, ("run_id", "model", *COLUMNS)),
                        [(run_id, r["model"], *(_value(r, c) for c in COLUMNS)) for r in results])
    return len(results)
