"""The faults the end-to-end runs inject while a task runs (an S3 outage, a database restart, a Celery worker
killed), the probes of the workers' isolation, and Airflow's view of a run that they wait on."""

import datetime as dt
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from contextlib import closing
from pathlib import Path

from scripts.stack import AIRFLOW_3, group_alive, reap
from tests.conftest import clone_processes

S3_OUTAGE_LIMIT = 180  # seconds: the outage ends once a try of each sensor failed on it, or after this long
SENSORS = ("wait_for_ingest.wait_for_ingest_charge", "wait_for_ingest.wait_for_ingest_satisfaction")
S3_UNREACHABLE = "Could not connect to the endpoint URL"  # what botocore says of an endpoint that is not there
# How a try's end shows in its log: Airflow 2 says the state it set, Airflow 3's task log the exception
FAILED_TRY = "Task failed with exception" if AIRFLOW_3 else "Marking task as UP_FOR_RETRY"


def s3_outage(stack, outage: dict) -> None:
    """The S3 endpoint goes away while finance_elt's sensors wait, until a try of each has failed on it (a log of
    the sensor written since says the endpoint could not be reached and the try failed), and comes back with what
    it held (moto keeps objects in memory: they are put back, as a real object store keeps them). Records when."""
    from include.finance.ingestion.bucket import MANIFESTS_PREFIX

    logs = stack.airflow_home / "logs" / "dag_id=finance_elt"

    def sensor_logs() -> list[Path]:  # the day's run id is an earlier run's too: its logs are appended to
        return [log for task in SENSORS for log in logs.glob(f"run_id=*/task_id={task}/attempt=*.log")]

    def each_sensor_failed_on_it(written_before: dict[Path, int]) -> bool:
        failed = set()
        for log in sensor_logs():
            with open(log, "rb") as text:
                text.seek(written_before.get(log, 0))
                since = text.read().decode(errors="replace")
            if S3_UNREACHABLE in since and FAILED_TRY in since:
                failed.add(log.parent.name)
        return failed == {f"task_id={task}" for task in SENSORS}

    written_before = {log: log.stat().st_size for log in sensor_logs()}
    stack.stop_s3()
    outage["from"] = dt.datetime.now(dt.timezone.utc)
    deadline = time.monotonic() + S3_OUTAGE_LIMIT
    while not each_sensor_failed_on_it(written_before) and time.monotonic() < deadline:
        time.sleep(1)
    outage["to"] = dt.datetime.now(dt.timezone.utc)
    stack.start_s3()
    stack.restore_s3(skip=(MANIFESTS_PREFIX,))


class Poll:
    """The questions a fault's loop asks the database several times a second, on one connection (autocommit: it is
    never idle in a transaction), opened again after an error (no server yet, or a restart): a connection per
    question costs a backend and a password check, about 8 ms of CPU, thousands of times in a run."""

    def __init__(self, stack, database: str):
        self.stack, self.database, self.conn = stack, database, None

    def rows(self, query: str) -> list[tuple]:
        """The rows of `query`; none when the server cannot answer now."""
        import psycopg2

        try:
            if self.conn is None:
                self.conn = psycopg2.connect(self.stack.db_uri(self.database), connect_timeout=3)
                self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()
        except psycopg2.Error:
            self.close()
            return []

    def row(self, query: str) -> tuple | None:
        return next(iter(self.rows(query)), None)

    def value(self, query: str):
        """The first column of the first row of `query`, or None when there is none (or no server now)."""
        row = self.row(query)
        return row[0] if row else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "Poll":
        return self

    def __exit__(self, *_) -> None:
        self.close()


def one_value(stack, database: str, query: str):
    """The first column of the first row of a query, or None when there is none (or no server yet)."""
    with Poll(stack, database) as poll:
        return poll.value(query)


def restart_postgres_during_the_load(stack, done: threading.Event, fault: dict) -> None:
    """Restart the PostgreSQL server (Airflow's metadata and the data) while the charge load runs.

    From the start an exclusive lock on in_charge is held (its tables made first, as the DAG makes
    them: creating them again does not wait for it), so the load's first statement on it waits; the
    server is restarted while it waits, which ends the lock and the load's try. Records the waiting
    statement, when, and the postmaster's PIDs."""
    import psycopg2

    from include.finance import schema

    with closing(psycopg2.connect(stack.db_uri("finance"))) as conn:
        schema.create_tables(conn, "public")
    locker = psycopg2.connect(stack.db_uri("finance"))
    try:
        locker.cursor().execute("LOCK TABLE public.in_charge IN ACCESS EXCLUSIVE MODE")  # held until the restart
        waiting = ("SELECT query FROM pg_stat_activity WHERE datname = 'finance' AND wait_event_type = 'Lock'"
                   f" AND pid <> {locker.get_backend_pid()}")
        deadline = time.monotonic() + 900  # never hold the load for good
        with Poll(stack, "finance") as finance:
            while not done.is_set() and not fault.get("waiting") and time.monotonic() < deadline:
                fault["waiting"] = finance.value(waiting)
                time.sleep(0.2)
        if not fault.get("waiting"):
            return
        fault["processes"] = clone_processes()  # a task is running: the load
        if AIRFLOW_3:  # its process is titled by its task instance's id
            fault["load_ti"] = one_value(stack, "airflow", "SELECT id::text FROM task_instance WHERE dag_id = 'finance_elt'"
                                          " AND task_id = 'load_input_files' AND map_index = 0 AND state = 'running'")
        fault["postmaster_before"] = stack.pids()["postgres"]
        fault["at"] = dt.datetime.now(dt.timezone.utc)
        stack.stop_postgres()
        time.sleep(3)
        stack.start_postgres()
        fault["postmaster_after"] = stack.pids()["postgres"]
    finally:
        try:
            locker.close()  # the lock goes with it, whatever happened above
        except psycopg2.Error:
            pass


def worker_namespace_pid(stack, name: str) -> int:
    """The first process inside a Celery worker's namespaces (the child of its `unshare`)."""
    unshare = int(stack.pid_file(name).read_text())
    return int(Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()[0])


def in_worker(stack, name: str, command: str) -> subprocess.CompletedProcess:
    """Run a shell command inside a worker's mount, UTS and PID namespaces, as its tasks see the machine."""
    return subprocess.run(["nsenter", "-t", str(worker_namespace_pid(stack, name)), "-m", "-u", "-p", "sh", "-c",
                           command], capture_output=True, text=True, cwd="/")


def probe_worker_isolation(stack) -> dict:
    """What each worker sees: its host name, whether another worker's /tmp file is visible, whether it
    can write into include/."""
    from scripts.stack import CELERY_WORKERS
    from scripts.stack import PROJECT_ROOT as PROJECT

    first, second = CELERY_WORKERS
    seen = {name: in_worker(stack, name, "hostname").stdout.strip() for name in CELERY_WORKERS}
    written = in_worker(stack, first, "echo scratch > /tmp/from-worker-1 && cat /tmp/from-worker-1")
    seen["first_wrote_its_tmp"] = written.stdout.strip() == "scratch"
    seen["second_sees_it"] = in_worker(stack, second, "test -e /tmp/from-worker-1").returncode == 0
    seen["host_sees_it"] = Path("/tmp/from-worker-1").exists()
    seen["include_writable"] = in_worker(stack, first, f"touch {PROJECT}/include/.probe").returncode == 0
    return seen


def kill_a_worker_while_it_trains(stack, done: threading.Event, kill: dict) -> None:
    """Once a training task runs, SIGKILL the worker that runs it: its process group and, with the first
    process of its PID namespace, every process in it (the tasks included). Records what it hit."""
    with Poll(stack, "airflow") as airflow:
        while not done.is_set():
            running = airflow.rows("SELECT hostname, map_index, try_number FROM task_instance WHERE dag_id = 'finance_ml'"
                                   " AND task_id = 'train_model_task' AND state = 'running' AND hostname <> ''")
            if running:
                worker = running[0][0]
                kill["processes"] = clone_processes()
                os.killpg(int(stack.pid_file(worker).read_text()), signal.SIGKILL)
                kill.update(worker=worker, at=dt.datetime.now(dt.timezone.utc),
                            tasks=sorted((m, t) for host, m, t in running if host == worker))
                pgid = int(stack.pid_file(worker).read_text())
                for _ in range(50):  # gone, once this process (its parent) has collected its exit status
                    reap(pgid)
                    if not group_alive(pgid):
                        break
                    time.sleep(0.1)
                kill["group_alive_after"] = group_alive(pgid)
                return
            time.sleep(0.1)


def dag_run(stack, dag_id: str, run_id: str) -> dict:
    return stack.api("GET", f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")


def finished_state(stack, dag_id: str, run_id: str) -> str | None:
    state = dag_run(stack, dag_id, run_id)["state"]
    return state if state in ("success", "failed") else None
