"""The local services for the integration tests: one private PostgreSQL, and for the pipeline tests
the whole stack (moto S3, Airflow scheduler, triggerer, webserver; Redis and two isolated Celery
workers in Celery mode) on free loopback ports.

The pipeline runs once per executor (`pipeline` is parametrised over both): under the LocalExecutor
with an S3 outage, a database restart, a scheduler that hangs, the browser and a rerun of the day; under
the CeleryExecutor with a scheduler that hangs and one worker killed while it trains. What a test needs
from Airflow's metadata is recorded while that run's stack is up (each run starts from fresh metadata).
The scenarios after a run (the browser, the stopping days, the rerun; the workers' isolation) are
recorded one by one: one that fails fails its own tests only (`Record`). The faults are in faults.py, the
backfill's run in backfill_run.py, the gate days in gate_days.py, the scheduler's hang in scheduler_hang.py."""

import datetime as dt
import gzip
import json
import os
import threading
import urllib.parse
from pathlib import Path

import pytest

from scripts.stack import EXECUTORS, run_pipeline, services_unavailable  # noqa: E402
from scripts.ui import chromium_unavailable, open_ui  # noqa: E402
from tests.conftest import clone_processes  # noqa: E402
from tests.e2e.backfill_run import run_backfill  # noqa: E402
from tests.e2e.faults import (finished_state, kill_a_worker_while_it_trains, probe_worker_isolation,  # noqa: E402
                              restart_postgres_during_the_load, s3_outage)
from tests.e2e.gate_days import run_gate_days  # noqa: E402
from tests.e2e.mlflow_view import mlflow_view  # noqa: E402
from tests.e2e.scheduler_hang import hang_the_scheduler  # noqa: E402

# Where each run's scheduler hangs (tests/e2e/scheduler_hang.py): under Celery while finance_elt loads (the
# tasks run on the workers), under the LocalExecutor while finance_ml trains (the tasks are the scheduler's
# own children: the restart ends them, and they are retried)
CELERY_HANG = ("finance_elt", "load_input_files")
LOCAL_HANG = ("finance_ml", "train_model_task")

# Files a user's export could hold next to the good ones (what each row becomes is in the comments).
# {charge} / {customer}: a charge id and a customer of the generated files, {long}: a line past the limit.
SAT_HEADER = (b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,"
              b"product_type")
EXTRA_FILES = {
    # (kind, file): (bytes, (rows_read, rows_loaded, rows_rejected, duplicates_dropped), note)
    ("charge", "zz_malformed.csv"): (
        # columns in another order, one the contract does not know, one optional column absent
        b"status,paid,customer_id,created,currency,amount_captured,amount,id,exported_by\n"
        b"succeeded,true,cus_X,1767225600,usd,100,-100,ch_negative,erp\n"  # rejected: negative amount
        b"succeeded,true,cus_X,1767225600\n"  # rejected: short row
        b"succeeded,true,cus_\xff,1767225600,usd,100,100,ch_latin1,erp\n"  # rejected: not UTF-8
        b"succeeded,true,{customer},1767225600,usd,100,100,{charge},erp\n",  # dropped: a charge id already loaded
        (4, 0, 3, 1), "ignored columns: exported_by; absent optional columns: amount_refunded"),
    ("charge", "zz_empty.csv"): (b"", (0, 0, 0, 0), "empty file"),  # zero bytes: S3 refuses any range of it
    ("charge", "zz_gzip.csv.gz"): (None, (2, 0, 0, 2), ""),  # compressed: two charges already loaded, repeated
    ("charge", "zz_left_out.csv"): (
        b"id,amount,amount_captured,currency,created,customer_id,paid,status\n"
        b"ch_in_euros,5000,5000,eur,1767225600,{customer},true,succeeded\n"  # loaded; not in the model's currency
        b"ch_unit_error,900000000000,900000000000,usd,1767225600,{customer},true,succeeded\n",  # loaded; implausible
        (2, 2, 0, 0), "absent optional columns: amount_refunded"),
    ("charge", "zz_catalogue.csv"): (  # failed charges of a customer with no other: the model is unchanged
        b"id,amount,amount_captured,currency,created,customer_id,paid,status,description\n"
        b'ch_cat_quoted,100,100,usd,1767225600,cus_cat,false,failed,"Invoice 7, ""gold"" plan\nline 2"\n'  # loaded
        b"ch_cat_abc,abc,0,usd,1767225600,cus_cat,false,failed,x\n"  # rejected: not a number
        b"ch_cat_empty,,0,usd,1767225600,cus_cat,false,failed,x\n"  # rejected: missing amount
        b"ch_cat_t,100,100,usd,1767225600,cus_cat,t,failed,x\n"  # loaded: PostgreSQL's boolean spellings
        b"ch_cat_yes,100,100,usd,1767225600,cus_cat,yes,failed,x\n"  # loaded
        b"\n"  # a blank line: no row
        b"ch_cat_nocust,100,100,usd,1767225600,,false,failed,x\n"  # rejected: missing customer_id
        b"ch_cat_nul,100,100,usd,1767225600,cus_\x00cat,false,failed,x\n"  # rejected: NUL byte
        b"ch_cat_t,100,100,usd,1767225600,cus_cat,false,failed,again in the same file\n",  # dropped: duplicate id
        (8, 3, 4, 1), "absent optional columns: amount_refunded"),
    ("charge", "zz_iso_created.csv"): (
        b"id,amount,amount_captured,currency,created,customer_id,paid,status\n"
        b"ch_iso,100,100,usd,2026-01-01T10:00:00Z,{customer},true,succeeded\n",  # rejected: created is Unix seconds
        (1, 0, 1, 0), "absent optional columns: amount_refunded"),
    ("satisfaction", "zz_malformed.csv"): (
        b"\xef\xbb\xbf" + SAT_HEADER + b"\r\n"
        b"cus_X,11,5,5,basic\r\n"  # rejected: score out of range
        b"{customer},5,5,5,basic\r\n",  # dropped: a customer already answered
        (2, 0, 1, 1), ""),
    ("satisfaction", "zz_header_only.csv"): (SAT_HEADER + b"\r\n", (0, 0, 0, 0), "header only"),
    ("satisfaction", "zz_orphans.csv"): (SAT_HEADER + b"\ncus_no_charge,5,5,5,basic\n", (1, 1, 0, 0), ""),
    ("satisfaction", "zz_long_line.csv"): (SAT_HEADER + b"\n{long}\n", (1, 0, 1, 0), ""),  # rejected: too long
    ("satisfaction", "zz_unclosed_quote.csv"): (
        SAT_HEADER + b'\ncus_quote,1,2,3,"basic\n'  # rejected: its quote never closes
        b"{customer},5,5,5,basic\n",  # read again after it: dropped, a customer already answered
        (2, 0, 1, 1), ""),
}


@pytest.fixture(scope="session")
def input_dir(stack):
    """`make run DATA=...` input: the generator's files plus EXTRA_FILES, loaded after them."""
    import datetime as dt

    import pandas as pd

    from include.finance.config import settings
    from include.finance.contract import MAX_LINE_BYTES
    from include.finance.ingestion.mock_data import generate_mock_data

    folder = stack.state_dir / "input"
    files = generate_mock_data(folder, dt.date(2026, 1, 1), customers=settings.mock_data_customers,
                               parts=settings.mock_data_parts, seed=settings.mock_data_seed)
    charge = pd.read_csv(files["charge"][0], nrows=1).iloc[0]
    survey = pd.read_csv(files["satisfaction"][0], nrows=1).iloc[0]
    for (kind, name), (body, _, _) in EXTRA_FILES.items():
        if body is None:  # the .csv.gz: the header and two rows of a generated part
            with open(files["charge"][0], "rb") as part:
                body = gzip.compress(b"".join(part.readline() for _ in range(3)))
        else:
            customer = (charge if kind == "charge" else survey)["customer_id"].encode()
            body = (body.replace(b"{charge}", charge["id"].encode()).replace(b"{customer}", customer)
                    .replace(b"{long}", b"x" * (MAX_LINE_BYTES + 1)))
        (folder / kind / name).write_bytes(body)
    return folder


@pytest.fixture(scope="session")
def extra_files() -> dict:
    return EXTRA_FILES


# Days whose files stop finance_elt in `check_input_files`, before anything loads: files put in the
# bucket with their manifests (as in_finance_data writes them) and finance_elt triggered for the day.
GOOD_SURVEY = SAT_HEADER + b"\ncus_1,1,2,3,basic\n"
CHARGE_COLUMNS = b"id,amount,amount_captured,currency,created,customer_id,paid,status"
STOPPING_DAYS = {
    # day: ({(kind, file): bytes}, files the manifest lists that are not uploaded, what the error says)
    "2026-01-02": ({("charge", "wide.csv"): CHARGE_COLUMNS + b"".join(b",x%d" % i for i in range(1600)) + b"\n",
                    ("satisfaction", "part.csv"): GOOD_SURVEY}, (),
                   "wide.csv: line 1: 1600 columns the charge contract does not know"),
    "2026-01-03": ({("charge", "twice.csv"): CHARGE_COLUMNS + b",amount\n", ("satisfaction", "part.csv"): GOOD_SURVEY},
                   (), "twice.csv: line 1: column 'amount' appears twice in the header"),
    "2026-01-04": ({("charge", "part.csv"): CHARGE_COLUMNS + b"\n", ("satisfaction", "part.csv"): GOOD_SURVEY},
                   (("charge", "gone.csv"),), "charge/dt=2026-01-04/gone.csv: listed in the manifest"),
}


@pytest.fixture(scope="session")
def stopping_days() -> dict:
    return STOPPING_DAYS


def run_stopping_days(stack) -> dict:
    """Each of STOPPING_DAYS through finance_elt: its run's state, which tasks ran, and the log of
    check_input_files."""
    from scripts.stack import s3_client, settings, trigger, wait_for

    from include.finance.ingestion.bucket import manifest_key, partition_prefix

    client, bucket, found, runs = s3_client(stack), settings.data_bucket_name, {}, {}
    for day, (files, absent, _) in STOPPING_DAYS.items():  # every day's files and run first: the runs wait their turn
        listed = {kind: [] for kind in ("charge", "satisfaction")}
        for (kind, name), body in files.items():
            client.put_object(Bucket=bucket, Key=partition_prefix(kind, day) + name, Body=body)
            listed[kind].append({"key": partition_prefix(kind, day) + name, "rows": body.count(b"\n") - 1,
                                 "bytes": len(body)})
        for kind, name in absent:
            listed[kind].append({"key": partition_prefix(kind, day) + name, "rows": 1, "bytes": 10})
        for kind, entries in listed.items():
            client.put_object(Bucket=bucket, Key=manifest_key(kind, day), Body=json.dumps(
                {"kind": kind, "ds": day, "keys": [e["key"] for e in entries], "files": entries}).encode())
        runs[day] = trigger(stack, "finance_elt", dt.datetime.fromisoformat(f"{day}T00:00:00+00:00"))
    for day, run in runs.items():
        state = wait_for(lambda: finished_state(stack, "finance_elt", run["dag_run_id"]), 300, f"finance_elt for {day}", every=2)
        tis = stack.api("GET", f"dags/finance_elt/dagRuns/{urllib.parse.quote(run['dag_run_id'])}/taskInstances?limit=100")
        log = (stack.airflow_home / "logs" / "dag_id=finance_elt" / f"run_id={run['dag_run_id']}"
               / "task_id=check_input_files" / "attempt=1.log")
        found[day] = {"state": state, "log": log.read_text() if log.exists() else "",
                      "tasks": {ti["task_id"]: ti["state"] for ti in tis["task_instances"]},
                      "tries": {ti["task_id"]: ti["try_number"] for ti in tis["task_instances"]}}
    return found


def day_snapshot(stack, ds: str) -> dict:
    """Everything finance_elt writes for a day, without the columns that record when or by whom."""
    import psycopg2

    queries = {
        "in_charge": "SELECT * FROM public.in_charge WHERE ds = %(ds)s ORDER BY id",
        "in_satisfaction": "SELECT * FROM public.in_satisfaction WHERE ds = %(ds)s ORDER BY customer_id",
        "model_satisfaction": "SELECT * FROM public.model_satisfaction WHERE ds = %(ds)s ORDER BY customer_id",
        "load_rejects": "SELECT ds, kind, file, line, reason, raw_line FROM public.load_rejects"
                        " WHERE ds = %(ds)s ORDER BY kind, file, line",
        "load_audit": "SELECT ds, kind, file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, note"
                      " FROM public.load_audit WHERE ds = %(ds)s ORDER BY kind, file",
    }
    with psycopg2.connect(stack.db_uri("finance")) as conn, conn.cursor() as cur:
        snapshot = {}
        for name, query in queries.items():
            cur.execute(query, {"ds": ds})
            snapshot[name] = cur.fetchall()
    conn.close()
    return snapshot


def task_tries(stack, runs: dict) -> list[dict]:
    """Every try of every task of the runs, from Airflow's metadata: earlier tries (task_instance_history)
    and the latest one (task_instance), with state, host and times."""
    import psycopg2

    columns = ("dag_id", "task_id", "map_index", "try_number", "state", "hostname", "start_date", "end_date")
    keys = [(run["dag_id"], run["dag_run_id"]) for run in runs.values()]
    tries = []
    with psycopg2.connect(stack.db_uri("airflow")) as conn, conn.cursor() as cur:
        for table in ("task_instance_history", "task_instance"):
            cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE (dag_id, run_id) IN %s", (tuple(keys),))
            tries += [dict(zip(columns, row), latest=table == "task_instance") for row in cur.fetchall()]
    conn.close()
    return tries


def xcom_values(stack, runs: dict) -> list[tuple[str, str, object]]:
    """(dag_id, task_id, value) of every XCom the runs left in Airflow's metadata database."""
    import psycopg2

    keys = [(run["dag_id"], run["dag_run_id"]) for run in runs.values()]
    with psycopg2.connect(stack.db_uri("airflow")) as conn, conn.cursor() as cur:
        cur.execute("SELECT dag_id, task_id, value FROM xcom WHERE (dag_id, run_id) IN %s", (tuple(keys),))
        # Airflow 2 keeps the JSON as bytes, Airflow 3 in a jsonb column (read as Python values)
        found = [(dag_id, task_id, json.loads(bytes(value)) if isinstance(value, (bytes, memoryview)) else value)
                 for dag_id, task_id, value in cur.fetchall()]
    conn.close()
    return found


def listeners(stack) -> list[tuple[str, str, int]]:
    """(service, address, port) of every listening TCP socket of the processes the stack started."""
    import psutil

    service = {pid: name for name, pid in stack.pids().items()}  # each service's first process (group)
    owner = {}
    for proc in psutil.process_iter():
        try:  # the service whose process (or process group) this one descends from
            lineage = [proc, *proc.parents()]
            found = [service.get(p.pid) or service.get(os.getpgid(p.pid)) for p in lineage]
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
        if any(found):
            owner[proc.pid] = next(name for name in found if name)
    return sorted({(owner[c.pid], c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="inet")
                   if c.status == psutil.CONN_LISTEN and c.pid in owner})


def download_ml_artifacts(stack, runs, folder: Path) -> None:
    from scripts.stack import ml_artifacts_prefix, s3_client, settings
    from scripts.stack.s3 import inside

    prefix = ml_artifacts_prefix(runs["finance_ml"])
    client = s3_client(stack)
    for item in client.list_objects_v2(Bucket=settings.data_bucket_name, Prefix=prefix).get("Contents", []):
        target = inside(folder, item["Key"][len(prefix):])
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(settings.data_bucket_name, item["Key"], str(target))


def rerun_the_same_day(stack, runs) -> dict:
    """Clear and rerun in_finance_data, then finance_elt, for the day just run (finance_ml paused)."""
    from scripts.stack import wait_for

    ds = runs["finance_elt"]["logical_date"][:10]
    rerun = {"before": day_snapshot(stack, ds)}
    stack.api("PATCH", "dags/finance_ml?update_mask=is_paused", {"is_paused": True})
    for dag_id in ("in_finance_data", "finance_elt"):
        run_id = runs[dag_id]["dag_run_id"]
        stack.api("POST", f"dags/{dag_id}/clearTaskInstances",
                  {"dry_run": False, "dag_run_id": run_id, "reset_dag_runs": True, "only_failed": False})
        rerun[dag_id] = wait_for(lambda: finished_state(stack, dag_id, run_id), 600, f"the rerun of {dag_id}", every=3)
    rerun["after"] = day_snapshot(stack, ds)
    return rerun


class ScenarioFailed(Exception):
    """What a scenario of a pipeline run raised: kept in the run's record for that scenario's tests."""


class Record(dict):
    """What a pipeline run recorded, scenario by scenario: reading the result of a scenario that failed
    fails the reading test with that scenario's error, and only those tests."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, ScenarioFailed):
            pytest.fail(str(value)[:3000])
        return value

    def scenario(self, name: str, step, *args) -> None:
        """Run one scenario after the pipeline run; its failure does not stop the scenarios after it."""
        try:
            self[name] = step(*args)
        except Exception as error:  # recorded for the scenario's own tests
            import traceback

            self[name] = ScenarioFailed(f"scenario {name!r} failed: {error!r}\n{traceback.format_exc()}")


def record_while_up(stack, runs, record: Record) -> None:
    """What the tests read of a finished run while its stack is still up."""
    record["pids"] = stack.pids()
    record["listeners"] = listeners(stack)
    record["task_tries"] = task_tries(stack, runs)
    record["xcoms"] = xcom_values(stack, runs)
    download_ml_artifacts(stack, runs, record["artifacts"])
    record.scenario("mlflow", mlflow_view, stack)


def run_local(stack, input_dir) -> dict:
    """Unpause the DAGs under a real scheduler and wait for finance_ml, as `make run DATA=...` does,
    with an S3 outage while the sensors wait and a database restart during the load. Where Chromium
    is installed, a user does the unpausing in the UI and looks at the finished runs there; then the
    day is cleared and run again."""
    record = Record(artifacts=stack.state_dir / "ml-run-local", restart={}, outage={}, hang={})
    done = threading.Event()
    faults = [threading.Thread(target=restart_postgres_during_the_load, args=(stack, done, record["restart"]),
                               daemon=True),
              threading.Thread(target=hang_the_scheduler, args=(stack, done, record["hang"], *LOCAL_HANG), daemon=True)]
    for fault in faults:
        fault.start()
    ui = None if chromium_unavailable() else open_ui(stack, stack.state_dir / "screenshots")

    def after(stack, runs):
        record_while_up(stack, runs, record)
        if ui is not None:
            record.scenario("browser_after", ui.after, runs)
        record.scenario("stopping_days", run_stopping_days, stack)
        record.scenario("gate_days", run_gate_days, stack)
        if ui is not None:  # after the gate days: days loaded that finance_ml never ran for
            record.scenario("dashboard", ui.dashboard, runs)
        record.scenario("rerun", rerun_the_same_day, stack, runs)

    try:
        record["summary"] = run_pipeline(
            stack, data_dir=input_dir, timeout=1500, summary_path=stack.state_dir / "local" / "summary.json",
            before_ingest=lambda stack: s3_outage(stack, record["outage"]), after=after,
            switch_on=None if ui is None else lambda _, dag_id: ui.switch_on(dag_id))
    finally:
        done.set()
        for fault in faults:
            fault.join()
        if ui is not None:
            record["browser"] = ui.seen
            ui.close()
    return record


# The Celery run's tasks are retried 5 s after a failed try, not 30 s: the tries the killed worker ran (failed 30 s
# after their last heartbeat) wait no longer than that for the other worker
CELERY_RETRY_DELAY = "5"


def run_celery(stack, input_dir) -> dict:
    """The same run under the CeleryExecutor with two isolated workers; one of them is killed while it
    trains, and its tasks must finish on the other."""
    record = Record(artifacts=stack.state_dir / "ml-run-celery", kill={}, hang={})
    stack.extra_env["TASK_RETRY_DELAY"] = CELERY_RETRY_DELAY
    done = threading.Event()
    faults = [threading.Thread(target=kill_a_worker_while_it_trains, args=(stack, done, record["kill"]), daemon=True),
              threading.Thread(target=hang_the_scheduler, args=(stack, done, record["hang"], *CELERY_HANG), daemon=True)]
    for fault in faults:
        fault.start()

    def before_ingest(stack):
        record.scenario("isolation", probe_worker_isolation, stack)

    try:
        record["summary"] = run_pipeline(stack, data_dir=input_dir, timeout=1500,
                                         summary_path=stack.state_dir / "celery" / "summary.json",
                                         before_ingest=before_ingest, after=lambda s, runs: record_while_up(s, runs, record))
    finally:
        stack.extra_env.pop("TASK_RETRY_DELAY")
        done.set()
        for fault in faults:
            fault.join()
    return record


def saved_objects(stack) -> list[str]:
    """The keys of the data bucket that the stack's last `down` saved (<state>/s3/<bucket>/<key>)."""
    from scripts.stack import settings

    saved = stack.s3_saved / settings.data_bucket_name
    return sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())


RUNS: dict = {}  # executor (or "backfill") -> what its pipeline run recorded


def pipeline_run(stack, input_dir, executor: str) -> dict:
    reason = services_unavailable("local" if executor == "backfill" else executor)
    if reason:
        pytest.skip(f"the {executor} executor's stack cannot start here: {reason}")
    if executor not in RUNS:
        stack.executor = "local" if executor == "backfill" else executor
        try:
            if executor == "backfill":
                RUNS[executor] = run_backfill(stack)
            else:
                RUNS[executor] = (run_local if executor == "local" else run_celery)(stack, input_dir)
            RUNS[executor]["left_after_down"] = clone_processes()
            # what this run's `down` saved: the next run's `up` and `down` replace the folder (and skip the
            # manifests, so a run on another day, after midnight UTC, saves none of this day's)
            RUNS[executor]["saved_after_down"] = saved_objects(stack)
        except Exception as error:
            RUNS[executor] = error  # once: every test of this run fails with it
            raise
        finally:
            stack.start_postgres()  # run_pipeline stops everything; the tests read the tables afterwards
    if isinstance(RUNS[executor], Exception):
        pytest.fail(f"the {executor} pipeline run failed: {RUNS[executor]!r}"[:2000])
    return RUNS[executor]


@pytest.fixture(scope="session", params=EXECUTORS)
def run(request, stack, input_dir) -> dict:
    """What one pipeline run recorded, for each executor."""
    return pipeline_run(stack, input_dir, request.param)


@pytest.fixture(scope="session")
def pipeline(run) -> dict:
    """The summary of the run (`make run`'s summary.json), for each executor."""
    return run["summary"]


@pytest.fixture(scope="session")
def local_run(stack, input_dir) -> dict:
    """The LocalExecutor run with its faults, the browser and the rerun."""
    return pipeline_run(stack, input_dir, "local")


@pytest.fixture(scope="session")
def celery_run(stack, input_dir) -> dict:
    """The CeleryExecutor run with the killed worker."""
    return pipeline_run(stack, input_dir, "celery")


@pytest.fixture(scope="session")
def backfill(stack) -> dict:
    """Four days under the LocalExecutor, the last two shifted: days, summary, finance_ml's monitoring logs."""
    return pipeline_run(stack, None, "backfill")


@pytest.fixture(scope="session")
def browser(local_run):
    """What the browser saw of the pipeline run: DAG lists, switches, graphs, run states, screenshots."""
    reason = chromium_unavailable()
    if reason:
        pytest.skip(f"no browser here: {reason}")
    local_run["browser_after"]  # fails here if what the browser did after the run failed
    return local_run["browser"]


@pytest.fixture(scope="session")
def services_pids(run) -> dict[str, int]:
    """The process (group) id of every service `up` started, recorded while they ran."""
    return run["pids"]


@pytest.fixture(scope="session")
def rerun(local_run):
    """States of the rerun and the day's tables before and after it."""
    return local_run["rerun"]


@pytest.fixture(scope="session")
def ml_artifacts(run) -> Path:
    """The folder holding the best model, its card and the plots finance_ml uploaded."""
    return run["artifacts"]
