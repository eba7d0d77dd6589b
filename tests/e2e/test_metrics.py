"""The model_metrics table in the real PostgreSQL: created, extended from its first version, rewritten per run."""

import psycopg2
import pytest

from include.finance.metrics import store_metrics

pytestmark = pytest.mark.integration

SCHEMA = "metrics_test"


def result(model: str, cv_r2: float) -> dict:
    return {"model": model, "cv_r2": cv_r2, "cv_r2_std": 0.02, "cv_folds": 5, "r2_train": 0.9, "r2_test": 0.8,
            "fit_seconds": 0.1, "feature_importance": {"product_type": 0.5}, "coefficients": None,
            "hyper_parameters": {"alpha": 1.0}}


@pytest.fixture
def conn(stack):
    conn = psycopg2.connect(stack.db_uri("finance"))
    with conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    yield conn
    conn.close()


def rows(conn) -> list[tuple]:
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT run_id, model, cv_r2, coefficients, hyper_parameters FROM {SCHEMA}.model_metrics"
                    " ORDER BY run_id, model")
        return cur.fetchall()


def test_a_retried_run_replaces_its_rows_and_keeps_other_runs(conn):
    assert store_metrics(conn, SCHEMA, "model_metrics", "run_1", [result("A", 0.7), result("B", 0.8)]) == 2
    store_metrics(conn, SCHEMA, "model_metrics", "run_2", [result("A", 0.75)])
    store_metrics(conn, SCHEMA, "model_metrics", "run_1", [result("A", 0.71)])
    assert rows(conn) == [("run_1", "A", 0.71, None, {"alpha": 1.0}), ("run_2", "A", 0.75, None, {"alpha": 1.0})]


def test_a_table_of_the_first_version_is_extended_not_replaced(conn):
    with conn, conn.cursor() as cur:
        cur.execute(f"""CREATE TABLE {SCHEMA}.model_metrics (run_id TEXT NOT NULL, model TEXT NOT NULL,
            r2_train DOUBLE PRECISION NOT NULL, r2_test DOUBLE PRECISION NOT NULL,
            fit_seconds DOUBLE PRECISION NOT NULL, feature_importance JSONB,
            recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (run_id, model));
            INSERT INTO {SCHEMA}.model_metrics (run_id, model, r2_train, r2_test, fit_seconds)
            VALUES ('old_run', 'RandomForestRegressor', 0.95, 0.75, 9.0)""")
    store_metrics(conn, SCHEMA, "model_metrics", "new_run", [result("PoissonGLM", 0.84)])
    assert rows(conn) == [("new_run", "PoissonGLM", 0.84, None, {"alpha": 1.0}),
                          ("old_run", "RandomForestRegressor", None, None, None)]
