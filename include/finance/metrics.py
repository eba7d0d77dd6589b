"""The model metrics table: one row per finance_ml run and model, rewritten when a run is retried."""

from __future__ import annotations

import json

JSON_COLUMNS = ("feature_importance", "coefficients", "hyper_parameters")
COLUMNS = ("cv_r2", "cv_r2_std", "cv_folds", "r2_train", "r2_test", "fit_seconds", "feature_importance",
           "coefficients", "hyper_parameters")


def _value(result: dict, column: str):
    value = result.get(column)
    return json.dumps(value) if column in JSON_COLUMNS and value is not None else value


def store_metrics(conn, schema: str, table: str, run_id: str, results: list[dict]) -> int:
    """Replace the run's rows in `schema.table` (created or extended if needed) with `results`, in one transaction.

    `conn` is a psycopg2 connection (PostgresHook.get_conn()). Returns the number of rows written.
    """
    from psycopg2 import sql

    target = sql.Identifier(schema, table)
    with conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """CREATE TABLE IF NOT EXISTS {} (
                    run_id TEXT NOT NULL,
                    model TEXT NOT NULL,
                    r2_train DOUBLE PRECISION NOT NULL,
                    r2_test DOUBLE PRECISION NOT NULL,
                    fit_seconds DOUBLE PRECISION NOT NULL,
                    feature_importance JSONB,
                    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (run_id, model)
                )"""
            ).format(target)
        )
        # Columns added since the table's first version; NULL in rows of earlier runs.
        cur.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS cv_r2 DOUBLE PRECISION,"
                " ADD COLUMN IF NOT EXISTS cv_r2_std DOUBLE PRECISION, ADD COLUMN IF NOT EXISTS cv_folds INTEGER,"
                " ADD COLUMN IF NOT EXISTS coefficients JSONB, ADD COLUMN IF NOT EXISTS hyper_parameters JSONB"
            ).format(target)
        )
        cur.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(target), (run_id,))
        cur.executemany(
            sql.SQL("INSERT INTO {} (run_id, model, {}) VALUES (%s, %s, {})").format(
                target,
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
            ),
            [(run_id, r["model"], *(_value(r, c) for c in COLUMNS)) for r in results],
        )
    return len(results)
