"""The model metrics table: one row per finance_ml run and model, rewritten when a run is retried."""

from __future__ import annotations

import json


def store_metrics(conn, schema: str, table: str, run_id: str, results: list[dict]) -> int:
    """Replace the run's rows in `schema.table` (created if missing) with `results`, in one transaction.

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
        cur.execute(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(target), (run_id,))
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} (run_id, model, r2_train, r2_test, fit_seconds, feature_importance)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(target),
            [
                (run_id, r["model"], r["r2_train"], r["r2_test"], r["fit_seconds"],
                 json.dumps(r.get("feature_importance", {})))
                for r in results
            ],
        )
    return len(results)
