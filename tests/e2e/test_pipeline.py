"""The three DAGs under a real scheduler against the real PostgreSQL and S3 endpoint."""

import glob
from pathlib import Path

import pandas as pd
import pytest

from include.finance import config

pytestmark = pytest.mark.integration


def generated(stack, pipeline, kind: str) -> pd.DataFrame:
    ds = pipeline["runs"]["in_finance_data"]["logical_date"][:10]
    files = sorted(glob.glob(str(stack.state_dir / "mock_data" / f"dt={ds}" / kind / "*.csv")))
    assert len(files) == config.MOCK_DATA_PARTS
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def test_every_dag_run_succeeded_and_ml_was_triggered_by_the_dataset(pipeline):
    runs = pipeline["runs"]
    assert {dag_id: run["state"] for dag_id, run in runs.items()} == dict.fromkeys(
        ["in_finance_data", "finance_elt", "finance_ml"], "success"
    )
    assert runs["finance_ml"]["run_type"] == "dataset_triggered"
    assert runs["in_finance_data"]["logical_date"] == runs["finance_elt"]["logical_date"]
    assert all(seconds > 0 for seconds in pipeline["durations"].values())


def test_files_landed_under_the_logical_date(pipeline):
    ds = pipeline["runs"]["in_finance_data"]["logical_date"][:10]
    objects = pipeline["objects"]
    assert objects[f"charge/dt={ds}"] == config.MOCK_DATA_PARTS
    assert objects[f"satisfaction/dt={ds}"] == config.MOCK_DATA_PARTS
    assert objects[f"manifests/dt={ds}"] == 2


def test_loaded_tables_hold_every_generated_row(stack, pipeline):
    assert pipeline["tables"]["in_charge"] == len(generated(stack, pipeline, "charge"))
    assert pipeline["tables"]["in_satisfaction"] == len(generated(stack, pipeline, "satisfaction"))


def test_model_satisfaction_equals_pandas_on_the_csvs(stack, pipeline, finance_db):
    charges = generated(stack, pipeline, "charge")
    satisfaction = generated(stack, pipeline, "satisfaction")
    ok = charges[(charges["status"] == "succeeded") & charges["paid"]]
    avg = ok.groupby("customer_id", as_index=False)["amount_captured"].mean()
    expected = (
        avg.rename(columns={"amount_captured": "avg_amount_captured"})
        .merge(satisfaction, on="customer_id", how="left")
        .sort_values("customer_id")
        .reset_index(drop=True)
    )
    actual = pd.read_sql("SELECT * FROM public.model_satisfaction ORDER BY customer_id", finance_db)
    assert pipeline["tables"]["model_satisfaction"] == len(expected) > 1000
    assert list(actual["customer_id"]) == list(expected["customer_id"])
    pd.testing.assert_series_equal(actual["avg_amount_captured"].astype(float), expected["avg_amount_captured"],
                                   check_names=False)
    for column in ["customer_satisfaction_speed", "customer_satisfaction_product", "product_type"]:
        pd.testing.assert_series_equal(actual[column], expected[column], check_dtype=False, check_names=False)
    assert actual["product_type"].isna().sum() == expected["product_type"].isna().sum() > 0


def test_no_temporary_tables_are_left(finance_db, pipeline):
    with finance_db.cursor() as cur:
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE '\\_tmp%%'")
        assert cur.fetchall() == []


def test_every_model_has_its_metrics_row(pipeline, finance_db):
    run_id = pipeline["runs"]["finance_ml"]["dag_run_id"]
    with finance_db.cursor() as cur:
        cur.execute("SELECT model, r2_train, r2_test, fit_seconds FROM public.model_metrics WHERE run_id = %s", (run_id,))
        rows = {model: (r2_train, r2_test, fit) for model, r2_train, r2_test, fit in cur.fetchall()}
    expected = {m["model_class"].rsplit(".", 1)[1] for m in config.MODELS}
    assert set(rows) == expected == {m["model"] for m in pipeline["models"]}
    assert all(fit > 0 and -1 < r2_test <= 1 for _, r2_test, fit in rows.values())
    # the planted relation is learnable: the best model explains most of the variance
    assert max(r2_test for _, r2_test, _ in rows.values()) > 0.6


def test_a_plot_per_model(pipeline):
    names = {Path(p).stem for p in pipeline["plots"]}
    assert names == {m["model"] for m in pipeline["models"]}
    for path in pipeline["plots"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
