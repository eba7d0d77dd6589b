"""The model_metrics table in the real PostgreSQL, as `schema.create_tables` makes it: rewritten per run."""

import pytest

from include.finance.training.metrics import store_metrics

pytestmark = pytest.mark.integration

SCHEMA = "metrics_test"


def result(model: str, cv_r2: float) -> dict:
    return {"model": model, "cv_r2": cv_r2, "cv_r2_std": 0.02, "cv_folds": 5, "r2_train": 0.9, "r2_test": 0.8,
            "fit_seconds": 0.1, "feature_importance": {"product_type": 0.5}, "coefficients": None,
            "hyper_parameters": {"alpha": 1.0}}


@pytest.fixture
def conn(schema_db):
    return schema_db


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
