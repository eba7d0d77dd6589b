"""The three DAGs under a real scheduler against the real PostgreSQL and S3 endpoint."""

import datetime as dt
import glob
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from include.finance.config import PROJECT_ROOT, settings
from include.finance.ingestion import mock_data
from include.finance.training import ml
from scripts.stack import AIRFLOW_3, AIRFLOW_PROCESSES
from tests.e2e.faults import FAILED_TRY, S3_UNREACHABLE

pytestmark = pytest.mark.integration


def generated(input_dir, kind: str) -> pd.DataFrame:
    """The generator's rows of the input (its part files; tests/e2e/conftest.py EXTRA_FILES are the others)."""
    files = sorted(glob.glob(str(input_dir / kind / f"{kind}_part_*.csv")))
    assert len(files) == settings.mock_data_parts
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def test_every_dag_run_succeeded_and_ml_was_triggered_by_the_dataset(pipeline):
    runs = pipeline["runs"]
    assert {dag_id: run["state"] for dag_id, run in runs.items()} == dict.fromkeys(
        ["in_finance_data", "finance_elt", "finance_ml"], "success"
    )
    assert runs["finance_ml"]["run_type"] == ("asset_triggered" if AIRFLOW_3 else "dataset_triggered")
    assert runs["in_finance_data"]["logical_date"] == runs["finance_elt"]["logical_date"]
    assert all(seconds > 0 for seconds in pipeline["durations"].values())


def extra(extra_files, kind: str) -> dict:
    return {name: counts for (k, name), (_, counts, _) in extra_files.items() if k == kind}


def test_files_landed_under_the_logical_date(pipeline, extra_files):
    ds = pipeline["runs"]["in_finance_data"]["logical_date"][:10]
    objects = pipeline["objects"]
    for kind in ("charge", "satisfaction"):
        assert objects[f"{kind}/dt={ds}"] == settings.mock_data_parts + len(extra(extra_files, kind))
    assert objects[f"manifests/dt={ds}"] == 2


def expected_rows(input_dir, extra_files, kind: str) -> int:
    """The generator's rows and what the extra files load."""
    return len(generated(input_dir, kind)) + sum(counts[1] for counts in extra(extra_files, kind).values())


def test_loaded_tables_hold_every_good_row(input_dir, pipeline, extra_files):
    for kind in ("charge", "satisfaction"):
        assert pipeline["tables"][f"in_{kind}"] == expected_rows(input_dir, extra_files, kind)


def test_the_summary_accounts_for_every_row_of_every_file(input_dir, pipeline, extra_files):
    """Every extra file went through the sensors, the manifest, the header check and the load: each one's
    rows read, loaded, rejected and dropped as duplicates, counted on their own, and its note."""
    audit = {(a["kind"], a["file"].rsplit("/", 1)[1]): a for a in pipeline["audit"]}
    assert len(audit) == 2 * settings.mock_data_parts + len(extra_files)
    for a in audit.values():
        assert a["rows_read"] == a["rows_loaded"] + a["rows_rejected"] + a["duplicates_dropped"]
    counts = ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped")
    assert {key: (tuple(audit[key][c] for c in counts), audit[key]["note"][:len(note) or None])
            for key in extra_files for note in [extra_files[key][2]]} == \
        {key: (expected, note) for key, (_, expected, note) in extra_files.items()}
    assert pipeline["rejected"] == {f"in_{kind}": sum(c[2] for c in extra(extra_files, kind).values())
                                    for kind in ("charge", "satisfaction")}
    for kind in ("charge", "satisfaction"):
        parts = [a for (k, f), a in audit.items() if k == kind and not f.startswith("zz_")]
        assert sum(a["rows_loaded"] for a in parts) == sum(a["rows_read"] for a in parts) == len(generated(input_dir, kind))


def test_what_the_model_table_left_out_is_counted(input_dir, pipeline):
    """One charge in euros, one implausible amount (tests/e2e/conftest.py EXTRA_FILES, zz_left_out.csv)
    and the survey answers of customers without a charge, counted from the loaded partitions."""
    charges, surveys = generated(input_dir, "charge"), generated(input_dir, "satisfaction")
    successful = charges[(charges["status"] == "succeeded") & charges["paid"]]
    orphans = set(surveys["customer_id"]) - set(charges["customer_id"])
    assert pipeline["model_input"] == {
        "successful_charges": len(successful) + 2, "other_currency_charges": 1, "implausible_charges": 1,
        "survey_answers": len(surveys) + 1, "orphan_surveys": len(orphans) + 1}


def test_rejected_rows_are_kept_with_file_line_reason_and_raw_text(pipeline, finance_db):
    ds = pipeline["runs"]["finance_elt"]["logical_date"][:10]
    with finance_db.cursor() as cur:
        cur.execute("SELECT file, line, reason, raw_line FROM public.load_rejects WHERE ds = %s"
                    " AND file LIKE '%%/zz_malformed.csv' ORDER BY kind, line", (ds,))
        rows = [(f.rsplit("/", 1)[1], line, reason, raw) for f, line, reason, raw in cur.fetchall()]
    assert rows == [
        ("zz_malformed.csv", 2, "amount: not a non-negative integer: '-100'", "succeeded,true,cus_X,1767225600,usd,100,-100,ch_negative,erp"),
        ("zz_malformed.csv", 3, "short row: 4 fields, header has 9", "succeeded,true,cus_X,1767225600"),
        ("zz_malformed.csv", 4, "bytes that are not UTF-8", "succeeded,true,cus_\\xff,1767225600,usd,100,100,ch_latin1,erp"),
        ("zz_malformed.csv", 2, "customer_satisfaction_speed: not an integer from 0 to 10: '11'", "cus_X,11,5,5,basic"),
    ]


def day_of_model_satisfaction(pipeline, finance_db) -> pd.DataFrame:
    """The run's day of model_satisfaction (the table keeps every day: other runs add theirs)."""
    ds = pipeline["runs"]["finance_elt"]["logical_date"][:10]
    return pd.read_sql("SELECT * FROM public.model_satisfaction WHERE ds = %(ds)s", finance_db, params={"ds": ds})


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
    actual = day_of_model_satisfaction(pipeline, finance_db).sort_values("customer_id").reset_index(drop=True)
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
    assert set(rows) == {m["name"] for m in settings.models} == {m["model"] for m in pipeline["models"]}
    for cv_r2, cv_r2_std, folds, r2_test, fit, importance in rows.values():
        assert folds == settings.ml_cv_folds and 0 < cv_r2_std < 0.2 and -1 < cv_r2 <= 1 and -1 < r2_test <= 1
        assert fit > 0 and set(importance) == set(ml.FEATURES)


def test_the_best_model_reaches_what_the_data_allows(pipeline, finance_db):
    """The limit: the generator's true mean scored on the same cross-validation folds of the same rows."""
    table = day_of_model_satisfaction(pipeline, finance_db)
    features = ml.engineer_features(table, settings.ml_test_size, settings.ml_seed, settings.min_model_rows)
    limit = ml.cv_r2_of(lambda X: mock_data.expected_avg_amount(
        X["product_type"], X["customer_satisfaction_speed"], X["customer_satisfaction_product"]),
        features, settings.ml_cv_folds, settings.ml_seed)
    best = max(pipeline["models"], key=lambda m: m["cv_r2"])
    assert best["cv_r2"] >= limit - 0.01, (best, limit)
    assert pipeline["model_card"]["model"] == best["model"]


def test_the_best_model_is_kept_with_its_card(pipeline, ml_artifacts, finance_db):
    card = json.loads((ml_artifacts / "model_card.json").read_text())
    assert card == pipeline["model_card"]
    assert card["run_id"] == pipeline["runs"]["finance_ml"]["dag_run_id"]
    assert card["data"]["ds"] == pipeline["runs"]["finance_elt"]["logical_date"][:10]
    assert card["data"]["built_by"] == f"finance_elt run {pipeline['runs']['finance_elt']['dag_run_id']}"
    assert set(card["all_models"]) == {m["name"] for m in settings.models}
    assert card["libraries"]["scikit-learn"] and card["libraries"]["python"].startswith("3.")
    table = day_of_model_satisfaction(pipeline, finance_db)
    assert card["rows"]["model_satisfaction"] == len(table)
    assert card["rows"]["without_survey"] == len(table) - len(table.dropna()) > 0  # the generator's 3 % non-answers


def test_each_model_is_a_nested_mlflow_run_and_the_best_is_a_version_and_the_champion_serves(run, finance_db):
    """Read back from the MLflow server while the run's stack was up (tests/e2e/mlflow_view.py): the day's run with a
    nested run per model, the registered version of the best model, and the version with the alias champion, which
    predicted the day, loaded through models:/<name>@champion after its SHA-256 is checked."""
    from sklearn.metrics import r2_score

    from include.finance.production import registry
    from include.finance.training import tracking

    pipeline, view = run["summary"], run["mlflow"]
    card = pipeline["model_card"]
    day_run = view["runs"][card["mlflow"]["day_run_id"]]
    assert day_run["tags"][tracking.DAY] == card["data"]["ds"]
    assert day_run["tags"][tracking.DAG_RUN_ID] == card["run_id"]
    nested = [r for r in view["runs"].values() if r["tags"].get("mlflow.parentRunId") == card["mlflow"]["day_run_id"]]
    assert {r["tags"][tracking.MODEL] for r in nested} == {m["name"] for m in settings.models}
    for nested_run in nested:
        model = next(m for m in pipeline["models"] if m["model"] == nested_run["tags"][tracking.MODEL])
        assert nested_run["metrics"]["cv_r2"] == pytest.approx(float(model["cv_r2"]))
        assert nested_run["plots"] == {f"plots/{model['model']}.png"}
    assert day_run["plots"] == {"plots/comparison.png", "plots/monitoring.png"}
    entry = view["entries"][card["version"]]
    assert (entry["model"], entry["model_sha256"], entry["mlflow_run_id"]) == (card["model"], card["model_sha256"],
                                                                            card["mlflow"]["run_id"])
    # the decision is our rule on the scores it recorded: the session's first run promotes its model; the second
    # (the other executor) meets the model serving after the first run's later days and reruns
    assert (entry["champion_r2"] is None) == (entry["incumbent_version"] is None)
    rule = registry.decide(entry["candidate_r2"], entry["champion_r2"], settings.promotion_margin)
    assert entry["decision"] == ("promoted" if rule.promote else "not promoted")
    serving = view["champion"]
    assert serving["version"] == registry.serving_after(entry)  # the alias is on the version that serves the day
    assert pipeline["days"][card["data"]["ds"]]["predictions"]["model_versions"] == [serving["version"]]
    champion = view["champion_model"]  # the whole Pipeline: raw columns in, cents out
    answered = day_of_model_satisfaction(pipeline, finance_db).dropna()
    assert r2_score(answered[ml.TARGET], champion.predict(answered[ml.FEATURES])) > card["metrics"]["cv_r2"] - 0.05


def test_plots_are_uploaded_and_the_summary_downloads_them(pipeline, ml_artifacts):
    expected = {m["name"] for m in settings.models} | {"comparison", "monitoring"}
    assert {p.stem for p in (ml_artifacts / "plots").glob("*.png")} == expected
    assert {Path(p).stem for p in pipeline["plots"]} == expected
    for path in pipeline["plots"]:
        assert (PROJECT_ROOT / path).read_bytes() == (ml_artifacts / "plots" / Path(path).name).read_bytes()
        assert (PROJECT_ROOT / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_task_hands_a_local_file_to_another(run, input_dir, extra_files):
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
        == 2 * settings.mock_data_parts + len(extra_files)  # one report per uploaded file


def _tries(run, dag_id: str, task_prefix: str) -> dict[str, list[dict]]:
    """Each task's tries in the run (before any rerun), oldest first."""
    found: dict[str, list[dict]] = {}
    for t in sorted(run["task_tries"], key=lambda t: t["try_number"]):
        if t["dag_id"] == dag_id and t["task_id"].startswith(task_prefix):
            found.setdefault(f"{t['task_id']}[{t['map_index']}]", []).append(t)
    return found


def _try_sections(stack, run: dict, dag_id: str, task: str,
                  try_number: int = 1) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """(first, last timestamp, text) of each time a try (the first) of a task ran: its attempt=N.log has one
    section per time (a deferred task's resumption; the Celery run and the rerun of the day write the same run
    id's log). Airflow 3 writes a JSON object per line: the text is then each line's event and error."""
    run_id = run["summary"]["runs"][dag_id]["dag_run_id"]
    log = (stack.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task}"
           / f"attempt={try_number}.log")
    if AIRFLOW_3:
        sections: list[list[tuple[dt.datetime, str]]] = []
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") == "::group::Pre Execute":
                sections.append([])
            errors = " ".join(f"{e['exc_type']}: {e['exc_value']}" for e in entry.get("error_detail") or [])
            sections[-1].append((dt.datetime.fromisoformat(entry["timestamp"]), f"{entry.get('event')} {errors}"))
        return [(lines[0][0], lines[-1][0], "\n".join(text for _, text in lines)) for lines in sections]
    sections = re.split(r"(?m)^(?=\[\S+\] \{\S+\} INFO - ::group::Pre task execution logs)", log.read_text())[1:]
    found = []
    for section in sections:
        stamps = [dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z") for s in re.findall(r"^\[(\S+)\]", section, re.M)]
        found.append((stamps[0], stamps[-1], section))
    return found


def test_the_sensors_outlived_an_s3_outage(stack, local_run):
    """The endpoint was down while both sensors waited in the triggerer: a try of each failed on it during
    the outage (its log says the endpoint could not be reached), and a later retry succeeded.

    On Airflow 2 that is the first try. Airflow 3.3.2's scheduler can lose the first try of a deferred task
    whose trigger fires within seconds (the executor's late "success" for the deferral, seen while the task
    is queued again, marks it UP_FOR_RETRY: "reported that the task instance ... finished with state
    success, but the task instance's state attribute is queued" in the scheduler log); the try after it then
    meets the outage."""
    outage = local_run["outage"]
    sensors = _tries(local_run, "finance_elt", "wait_for_ingest.")
    assert len(sensors) == 2
    for task, tries in sensors.items():
        failed = [t for t in tries if t["state"] in ("failed", "up_for_retry") and outage["from"] < t["end_date"] < outage["to"]]
        assert failed and (failed[0]["try_number"] == 1 or AIRFLOW_3), (task, tries, outage)
        hit_try, last = failed[0], tries[-1]
        assert last["state"] == "success" and last["try_number"] > hit_try["try_number"], (task, last)
        hit = [text for start, end, text in _try_sections(stack, local_run, "finance_elt", task.split("[")[0],
                                                                hit_try["try_number"])
               if start < hit_try["end_date"] <= end + dt.timedelta(seconds=1)]
        assert len(hit) == 1, f"{task}: no log of its try {hit_try['try_number']} ends with it"
        assert S3_UNREACHABLE in hit[0] and FAILED_TRY in hit[0], task


def test_the_load_outlived_a_database_restart_and_counted_right(stack, local_run, input_dir, extra_files):
    """The server was restarted while the charge load waited on in_charge (the fault injector's lock):
    the postmaster changed, the load's first try was running then and failed on the lost server (its
    log), the next try succeeded, and every row was loaded once."""
    restart = local_run["restart"]
    assert restart.get("waiting"), "the load was never seen waiting: the restart did not hit it"
    assert "in_charge" in restart["waiting"]
    assert restart["postmaster_after"] != restart["postmaster_before"]
    # map index 0: the charge load
    hit = [text for start, end, text in _try_sections(stack, local_run, "finance_elt", "load_input_files/map_index=0")
           if start < restart["at"] < end]
    assert len(hit) == 1, f"no run of the load's first try spans the restart at {restart['at']}"
    # the server's restart in the middle of the load: psycopg2 loses the connection (Airflow 3's log: the
    # connection it had is closed), and the try does not succeed
    assert re.search(r"OperationalError|InterfaceError: connection already closed", hit[0]), hit[0][-2000:]
    assert "Marking task as SUCCESS" not in hit[0] and (FAILED_TRY in hit[0] or not AIRFLOW_3)
    tries = _tries(local_run, "finance_elt", "load_input_files")["load_input_files[0]"]  # before the day's rerun
    # the first try's end could not be recorded (the server was down): the log above is its record
    assert (tries[-1]["try_number"], tries[-1]["state"]) == (2, "success") and tries[-1]["start_date"] > restart["at"]
    assert local_run["summary"]["tables"]["in_charge"] == expected_rows(input_dir, extra_files, "charge")


def test_no_credentials_in_any_log(stack, pipeline):
    """No log the stack writes (task logs, every service's own log, PostgreSQL's) holds a secret it configured."""
    env = stack.env()
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    secrets = {"database password": stack.pg_password, "Redis password": stack.redis_password,
               "MLflow password": stack.mlflow_password,
               "MLflow secret key": (stack.state_dir / "mlflow_secret_key").read_text().strip(),
               "S3 access key": aws["login"], "S3 secret key": aws["password"],
               **({"API secret key": env["AIRFLOW__API__SECRET_KEY"], "JWT secret": env["AIRFLOW__API_AUTH__JWT_SECRET"]}
                  if AIRFLOW_3 else {"webserver secret key": env["AIRFLOW__WEBSERVER__SECRET_KEY"]})}
    assert all(len(value) >= 8 for value in secrets.values()), secrets.keys()
    logs = [p for folder in (stack.log_dir, stack.airflow_home / "logs") for p in folder.rglob("*") if p.is_file()]
    logs.append(stack.pg_data / "server.log")
    assert len(list((stack.airflow_home / "logs").glob("dag_id=*/**/*.log"))) > 20  # task logs
    assert {stack.log_dir / f"{name}.log" for name in ("s3", "mlflow", *AIRFLOW_PROCESSES)} <= set(logs)
    assert all(path.is_file() for path in logs)  # PostgreSQL's server.log too
    leaks = [(str(path), name) for path in logs for name, value in secrets.items()
             if value in path.read_text(errors="replace")]
    assert leaks == []


def test_ingestion_and_elt_twice_for_the_same_day_leave_identical_tables(pipeline, rerun):
    assert rerun["in_finance_data"] == rerun["finance_elt"] == "success"
    before, after = rerun["before"], rerun["after"]
    assert len(before["in_charge"]) == pipeline["tables"]["in_charge"] > 0
    assert len(before["load_rejects"]) == sum(pipeline["rejected"].values()) > 0
    assert after == before


def test_files_that_cannot_load_stop_the_day_before_anything_is_written(local_run, stopping_days, finance_db):
    """A header wider than PostgreSQL allows, a header naming a column twice, a manifest listing a file
    that is not in the bucket: finance_elt fails in check_input_files, naming the file, without a
    retry, and no load ran (tests/e2e/conftest.py STOPPING_DAYS)."""
    ran = local_run["stopping_days"]
    assert set(ran) == set(stopping_days)
    for day, (_, _, error) in stopping_days.items():
        assert ran[day]["state"] == "failed", day
        assert ran[day]["tasks"]["check_input_files"] == "failed", (day, ran[day]["tasks"])
        assert ran[day]["tasks"].get("load_input_files") in (None, "upstream_failed"), (day, ran[day]["tasks"])
        # the teardown still runs and finds nothing to drop (the SDK's own fails on the load that never ran)
        assert ran[day]["tasks"]["cleanup"] == "success", (day, ran[day]["tasks"])
        assert error in ran[day]["log"] and "input files break the data contract" in ran[day]["log"], day
        assert ran[day]["tries"]["check_input_files"] == 1, day  # no retry
        assert ("Task failed with exception" if AIRFLOW_3 else "Marking task as FAILED") in ran[day]["log"], day
        assert "UP_FOR_RETRY" not in ran[day]["log"], day
        with finance_db.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.load_audit WHERE ds = %s", (day,))
            assert cur.fetchone() == (0,), day
