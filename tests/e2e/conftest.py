"""The local services for the integration tests: one private PostgreSQL, and for the pipeline test
the whole stack (moto S3, Airflow scheduler, triggerer, webserver) on free loopback ports."""

import shutil
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from stack import Stack, run_pipeline, services_unavailable, task_states  # noqa: E402
from ui import AirflowUI, chromium_unavailable  # noqa: E402

STATE = ROOT / ".local" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack():
    reason = services_unavailable()
    if reason:
        pytest.skip(f"local services cannot start here: {reason}")
    shutil.rmtree(STATE, ignore_errors=True)
    stack = Stack(
        state_dir=STATE,
        pg_port=free_port(),
        s3_port=free_port(),
        web_port=free_port(),
        health_port=free_port(),
        extra_env={"MOCK_DATA_DIR": str(STATE / "mock_data"), "PLOTS_DIR": str(STATE / "plots"), "POKE_INTERVAL": "3"},
    )
    stack.start_postgres()
    yield stack
    stack.down()


# Files a user's export could hold next to the good ones (what each row becomes is in the comments).
BAD_CHARGES = (
    # columns in another order, one the contract does not know, one optional column absent
    b"status,paid,customer_id,created,currency,amount_captured,amount,id,exported_by\n"
    b"succeeded,true,cus_X,1767225600,usd,100,-100,ch_negative,erp\n"  # rejected: negative amount
    b"succeeded,true,cus_X,1767225600\n"  # rejected: short row
    b"succeeded,true,cus_\xff,1767225600,usd,100,100,ch_latin1,erp\n"  # rejected: not UTF-8
    b"succeeded,true,{customer},1767225600,usd,100,100,{charge},erp\n"  # dropped: a charge id already loaded
)
BAD_SATISFACTION = (
    b"\xef\xbb\xbfcustomer_id,customer_satisfaction_speed,customer_satisfaction_product,"
    b"customer_satisfaction_service,product_type\r\n"
    b"cus_X,11,5,5,basic\r\n"  # rejected: score out of range
    b"{customer},5,5,5,basic\r\n"  # dropped: a customer already answered
)


@pytest.fixture(scope="session")
def input_dir():
    """`make run DATA=...` input: the generator's files plus one malformed file per kind (loaded last)."""
    import datetime as dt

    import pandas as pd

    from include.finance import config
    from include.finance.mock_data import generate_mock_data

    folder = STATE / "input"
    files = generate_mock_data(folder, dt.date(2026, 1, 1), customers=config.MOCK_DATA_CUSTOMERS,
                               parts=config.MOCK_DATA_PARTS, seed=config.MOCK_DATA_SEED)
    charge = pd.read_csv(files["charge"][0], nrows=1).iloc[0]
    survey = pd.read_csv(files["satisfaction"][0], nrows=1).iloc[0]
    (folder / "charge" / "zz_malformed.csv").write_bytes(
        BAD_CHARGES.replace(b"{charge}", charge["id"].encode()).replace(b"{customer}", charge["customer_id"].encode()))
    (folder / "satisfaction" / "zz_malformed.csv").write_bytes(
        BAD_SATISFACTION.replace(b"{customer}", survey["customer_id"].encode()))
    return folder


S3_OUTAGE_SECONDS = 60


def s3_outage(stack):
    """The S3 endpoint goes away while finance_elt's sensors wait, and comes back (empty: moto keeps
    objects in memory, and nothing is uploaded yet)."""
    stack.stop_s3()
    time.sleep(S3_OUTAGE_SECONDS)
    stack.start_s3()


def restart_postgres_when_loading(stack, done: threading.Event) -> None:
    """Restart the PostgreSQL server (Airflow's metadata and the data) while a load task runs."""
    while not done.is_set():
        try:
            states = task_states(stack, "finance_elt", "s3_to_db_glob")
        except OSError:  # the webserver is not up yet
            states = []
        if "running" in states:
            stack.stop_postgres()
            time.sleep(3)
            stack.start_postgres()
            return
        time.sleep(0.2)


def day_snapshot(stack, ds: str) -> dict:
    """Everything finance_elt writes for a day, without the columns that record when or by whom."""
    import psycopg2

    queries = {
        "in_charge": "SELECT * FROM public.in_charge WHERE ds = %(ds)s ORDER BY id",
        "in_satisfaction": "SELECT * FROM public.in_satisfaction WHERE ds = %(ds)s ORDER BY customer_id",
        "model_satisfaction": "SELECT * FROM public.model_satisfaction ORDER BY customer_id",
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


RERUN: dict = {}  # filled by rerun_the_same_day, read through the `rerun` fixture
ARTIFACTS = STATE / "ml-run"  # finance_ml's uploads, downloaded while the (in-memory) S3 endpoint runs


def download_ml_artifacts(stack, runs) -> None:
    from stack import data_bucket, ml_artifacts_prefix, s3_client

    prefix = ml_artifacts_prefix(stack, runs["finance_ml"])
    client = s3_client(stack)
    for item in client.list_objects_v2(Bucket=data_bucket(stack), Prefix=prefix).get("Contents", []):
        target = ARTIFACTS / item["Key"][len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(data_bucket(stack), item["Key"], str(target))


def _finished(stack, dag_id: str, run_id: str) -> str | None:
    state = stack.api("GET", f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")["state"]
    return state if state in ("success", "failed") else None


def rerun_the_same_day(stack, runs) -> None:
    """Clear and rerun in_finance_data, then finance_elt, for the day just run (finance_ml paused)."""
    from stack import wait_for

    ds = runs["finance_elt"]["logical_date"][:10]
    RERUN["before"] = day_snapshot(stack, ds)
    stack.api("PATCH", "dags/finance_ml?update_mask=is_paused", {"is_paused": True})
    for dag_id in ("in_finance_data", "finance_elt"):
        run_id = runs[dag_id]["dag_run_id"]
        stack.api("POST", f"dags/{dag_id}/clearTaskInstances",
                  {"dry_run": False, "dag_run_id": run_id, "reset_dag_runs": True, "only_failed": False})
        RERUN[dag_id] = wait_for(lambda: _finished(stack, dag_id, run_id), 600, f"the rerun of {dag_id}", every=3)
    RERUN["after"] = day_snapshot(stack, ds)


BROWSER: dict = {}  # what the browser saw, read through the `browser` fixture
PIDS: dict = {}  # the services' process (group) ids while the pipeline ran, read through `services_pids`


@pytest.fixture(scope="session")
def pipeline(stack, input_dir):
    """Unpause the DAGs under a real scheduler and wait for finance_ml, as `make run DATA=...` does,
    with an S3 outage while the sensors wait and a database restart during the load. Where Chromium
    is installed, a user does the unpausing in the UI and looks at the finished runs there."""
    done = threading.Event()
    fault = threading.Thread(target=restart_postgres_when_loading, args=(stack, done), daemon=True)
    fault.start()
    ui = None if chromium_unavailable() else AirflowUI(stack, STATE / "screenshots")

    def after(stack, runs):
        PIDS.update(stack.pids())
        download_ml_artifacts(stack, runs)
        if ui is not None:
            ui.after(runs)
        rerun_the_same_day(stack, runs)

    try:
        summary = run_pipeline(stack, data_dir=input_dir, timeout=1500, summary_path=STATE / "summary.json",
                               before_ingest=s3_outage, after=after,
                               switch_on=None if ui is None else lambda _, dag_id: ui.switch_on(dag_id))
    finally:
        done.set()
        fault.join()
        if ui is not None:
            BROWSER.update(ui.seen)
            ui.close()
    stack.start_postgres()  # run_pipeline stops everything; the tests read the tables afterwards
    return summary


@pytest.fixture(scope="session")
def browser(pipeline):
    """What the browser saw of the pipeline run: DAG lists, switches, graphs, run states, screenshots."""
    reason = chromium_unavailable()
    if reason:
        pytest.skip(f"no browser here: {reason}")
    return BROWSER


@pytest.fixture(scope="session")
def services_pids(pipeline) -> dict[str, int]:
    """The process (group) id of every service `up` started, recorded while they ran."""
    return PIDS


@pytest.fixture(scope="session")
def rerun(pipeline):
    """States of the rerun and the day's tables before and after it."""
    return RERUN


@pytest.fixture(scope="session")
def ml_artifacts(pipeline) -> Path:
    """The folder holding the best model, its card and the plots finance_ml uploaded."""
    return ARTIFACTS


@pytest.fixture
def finance_db(stack):
    import psycopg2

    conn = psycopg2.connect(stack.db_uri("finance"))
    yield conn
    conn.close()
