"""The three DAGs under a real scheduler against the real PostgreSQL and S3 endpoint."""

import glob
import json
from pathlib import Path

import pandas as pd
import pytest

from include.finance import config, ml, mock_data

pytestmark = pytest.mark.integration


def generated(input_dir, kind: str) -> pd.DataFrame:
    """The good rows of the input: the generator's part files (the malformed file adds none)."""
    files = sorted(glob.glob(str(input_dir / kind / f"{kind}_part_*.csv")))
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
    assert objects[f"charge/dt={ds}"] == config.MOCK_DATA_PARTS + 1
    assert objects[f"satisfaction/dt={ds}"] == config.MOCK_DATA_PARTS + 1
    assert objects[f"manifests/dt={ds}"] == 2


def test_loaded_tables_hold_every_good_row(input_dir, pipeline):
    assert pipeline["tables"]["in_charge"] == len(generated(input_dir, "charge"))
    assert pipeline["tables"]["in_satisfaction"] == len(generated(input_dir, "satisfaction"))


def test_the_summary_accounts_for_every_row_of_every_file(input_dir, pipeline):
    assert pipeline["rejected"] == {"in_charge": 3, "in_satisfaction": 1}
    audit = {(a["kind"], a["file"].rsplit("/", 1)[1]): a for a in pipeline["audit"]}
    assert len(audit) == 2 * (config.MOCK_DATA_PARTS + 1)
    for a in audit.values():
        assert a["rows_read"] == a["rows_loaded"] + a["rows_rejected"] + a["duplicates_dropped"]
    bad_charges, bad_surveys = audit["charge", "zz_malformed.csv"], audit["satisfaction", "zz_malformed.csv"]
    assert (bad_charges["rows_read"], bad_charges["rows_rejected"], bad_charges["duplicates_dropped"]) == (4, 3, 1)
    assert bad_charges["note"].startswith("ignored columns: exported_by; absent optional columns: amount_refunded")
    assert (bad_surveys["rows_read"], bad_surveys["rows_rejected"], bad_surveys["duplicates_dropped"]) == (2, 1, 1)
    for kind in ("charge", "satisfaction"):
        parts = [a for (k, f), a in audit.items() if k == kind and f != "zz_malformed.csv"]
        assert sum(a["rows_loaded"] for a in parts) == sum(a["rows_read"] for a in parts) == len(generated(input_dir, kind))


def test_rejected_rows_are_kept_with_file_line_reason_and_raw_text(pipeline, finance_db):
    ds = pipeline["runs"]["finance_elt"]["logical_date"][:10]
    with finance_db.cursor() as cur:
        cur.execute("SELECT file, line, reason, raw_line FROM public.load_rejects WHERE ds = %s ORDER BY kind, line", (ds,))
        rows = [(f.rsplit("/", 1)[1], line, reason, raw) for f, line, reason, raw in cur.fetchall()]
    assert rows == [
        ("zz_malformed.csv", 2, "amount: not a non-negative integer: '-100'", "succeeded,true,cus_X,1767225600,usd,100,-100,ch_negative,erp"),
        ("zz_malformed.csv", 3, "short row: 4 fields, header has 9", "succeeded,true,cus_X,1767225600"),
        ("zz_malformed.csv", 4, "bytes that are not UTF-8", "succeeded,true,cus_\\xff,1767225600,usd,100,100,ch_latin1,erp"),
        ("zz_malformed.csv", 2, "customer_satisfaction_speed: not an integer from 0 to 10: '11'", "cus_X,11,5,5,basic"),
    ]


def test_model_satisfaction_equals_pandas_on_the_csvs(input_dir, pipeline, finance_db):
    charges = generated(input_dir, "charge")
    satisfaction = generated(input_dir, "satisfaction")
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
        cur.execute("SELECT model, cv_r2, cv_r2_std, cv_folds, r2_test, fit_seconds, feature_importance"
                    " FROM public.model_metrics WHERE run_id = %s", (run_id,))
        rows = {row[0]: row[1:] for row in cur.fetchall()}
    assert set(rows) == {m["name"] for m in config.MODELS} == {m["model"] for m in pipeline["models"]}
    for cv_r2, cv_r2_std, folds, r2_test, fit, importance in rows.values():
        assert folds == config.ML_CV_FOLDS and 0 < cv_r2_std < 0.2 and -1 < cv_r2 <= 1 and -1 < r2_test <= 1
        assert fit > 0 and set(importance) == set(ml.FEATURES)


def test_the_best_model_reaches_what_the_data_allows(pipeline, finance_db):
    """The limit: the generator's true mean scored on the same cross-validation folds of the same rows."""
    table = pd.read_sql("SELECT * FROM public.model_satisfaction", finance_db)
    features = ml.engineer_features(table, config.ML_TEST_SIZE, config.ML_SEED, config.MIN_MODEL_ROWS)
    limit = ml.cv_r2_of(lambda X: mock_data.expected_avg_amount(
        X["product_type"], X["customer_satisfaction_speed"], X["customer_satisfaction_product"]),
        features, config.ML_CV_FOLDS, config.ML_SEED)
    best = max(pipeline["models"], key=lambda m: m["cv_r2"])
    assert best["cv_r2"] >= limit - 0.01, (best, limit)
    assert pipeline["model_card"]["model"] == best["model"]


def test_the_best_model_is_kept_with_its_card(pipeline, ml_artifacts, finance_db):
    import joblib
    from sklearn.metrics import r2_score

    card = json.loads((ml_artifacts / "model_card.json").read_text())
    assert card == pipeline["model_card"]
    assert card["run_id"] == pipeline["runs"]["finance_ml"]["dag_run_id"]
    assert card["data"]["ds"] == pipeline["runs"]["finance_elt"]["logical_date"][:10]
    assert card["data"]["built_by"] == f"finance_elt run {pipeline['runs']['finance_elt']['dag_run_id']}"
    assert set(card["all_models"]) == {m["name"] for m in config.MODELS}
    assert card["libraries"]["scikit-learn"] and card["libraries"]["python"].startswith("3.")
    table = pd.read_sql("SELECT * FROM public.model_satisfaction", finance_db)
    answered = table.dropna()
    assert card["rows"]["model_satisfaction"] == len(table)
    assert card["rows"]["without_survey"] == len(table) - len(answered) > 0  # the generator's 3 % non-answers
    model = joblib.load(ml_artifacts / "model.joblib")  # the whole Pipeline: raw columns in, cents out
    assert r2_score(answered[ml.TARGET], model.predict(answered[ml.FEATURES])) > card["metrics"]["cv_r2"] - 0.05


def test_plots_are_uploaded_and_the_summary_downloads_them(pipeline, ml_artifacts):
    expected = {m["name"] for m in config.MODELS} | {"comparison"}
    assert {p.stem for p in (ml_artifacts / "plots").glob("*.png")} == expected
    assert {Path(p).stem for p in pipeline["plots"]} == expected
    for path in pipeline["plots"]:
        assert (config.PROJECT_ROOT / path).read_bytes() == (ml_artifacts / "plots" / Path(path).name).read_bytes()
        assert (config.PROJECT_ROOT / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_task_hands_a_local_file_to_another(run, input_dir):
    """What tasks pass on (XCom) names objects, tables and values, never a path on a worker's disk; only
    `plan_parts` names the user's own files (make run DATA=..., read where they are)."""

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    local = [(dag_id, task_id, text) for dag_id, task_id, value in run["xcoms"] for text in strings(value)
             if text.startswith("/") or text.startswith("file:")]
    assert local and {(dag_id, task_id) for dag_id, task_id, _ in local} == {("in_finance_data", "plan_parts")}
    assert all(text.startswith(f"{input_dir}/") for _, _, text in local)
    assert sum(1 for dag_id, task_id, _ in run["xcoms"] if (dag_id, task_id) == ("in_finance_data", "upload_part")) \
        == 2 * (config.MOCK_DATA_PARTS + 1)  # one report per uploaded file


def _tries(run, dag_id: str, task_prefix: str) -> dict[str, list[dict]]:
    """Each task's tries in the run (before any rerun), oldest first."""
    found: dict[str, list[dict]] = {}
    for t in sorted(run["task_tries"], key=lambda t: t["try_number"]):
        if t["dag_id"] == dag_id and t["task_id"].startswith(task_prefix):
            found.setdefault(f"{t['task_id']}[{t['map_index']}]", []).append(t)
    return found


def test_the_sensors_outlived_a_60_second_s3_outage(local_run):
    sensors = _tries(local_run, "finance_elt", "wait_for_ingest.")
    assert len(sensors) == 2
    for task, tries in sensors.items():
        assert tries[-1]["state"] == "success", task
        assert len(tries) >= 2, f"{task} never saw the outage (tries={len(tries)})"


def test_the_load_outlived_a_database_restart_and_counted_right(stack, local_run, input_dir):
    """The server was restarted while the charge load waited on in_charge (the fault injector's lock):
    the postmaster changed, the load's first try was running then and failed on the lost server (its
    log), a later try succeeded, and every row was loaded once."""
    import datetime as dt
    import re

    restart = local_run["restart"]
    assert restart.get("waiting"), "the load was never seen waiting: the restart did not hit it"
    assert "in_charge" in restart["waiting"]
    assert restart["postmaster_after"] != restart["postmaster_before"]
    run_id = local_run["summary"]["runs"]["finance_elt"]["dag_run_id"]
    log = (stack.airflow_home / "logs" / "dag_id=finance_elt" / f"run_id={run_id}" / "task_id=s3_to_db_glob"
           / "map_index=0" / "attempt=1.log").read_text()  # map index 0: the charge load
    # one section per time the first try ran (the Celery run and the rerun write the same run id's log)
    sections = re.split(r"(?m)^(?=\[\S+\] \{\S+\} INFO - ::group::Pre task execution logs)", log)[1:]

    def span(section: str) -> tuple[dt.datetime, dt.datetime]:
        stamps = [dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f%z") for t in re.findall(r"^\[(\S+)\]", section, re.M)]
        return stamps[0], stamps[-1]

    hit = [section for section in sections if span(section)[0] < restart["at"] < span(section)[1]]
    assert len(hit) == 1, f"no run of the load's first try spans the restart at {restart['at']}"
    assert "OperationalError" in hit[0] and "Marking task as SUCCESS" not in hit[0]
    latest = _tries(local_run, "finance_elt", "s3_to_db_glob")["s3_to_db_glob[0]"][-1]  # before the day's rerun
    assert latest["state"] == "success" and latest["try_number"] >= 2
    assert local_run["summary"]["tables"]["in_charge"] == len(generated(input_dir, "charge"))


def test_no_credentials_in_task_logs(stack, pipeline):
    import json

    from stack import PG_PASSWORD

    secret = json.loads(stack.env()["AIRFLOW_CONN_AWS_DEFAULT"])["password"]
    logs = list((stack.airflow_home / "logs").rglob("*.log"))
    assert len(logs) > 20
    for path in logs:
        text = path.read_text(errors="replace")
        assert PG_PASSWORD not in text and secret not in text, path


def test_ingestion_and_elt_twice_for_the_same_day_leave_identical_tables(pipeline, rerun):
    assert rerun["in_finance_data"] == rerun["finance_elt"] == "success"
    before, after = rerun["before"], rerun["after"]
    assert len(before["in_charge"]) == pipeline["tables"]["in_charge"] > 0
    assert len(before["load_rejects"]) == 4
    assert after == before
