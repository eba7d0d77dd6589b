"""The scheduler hangs while a run is in flight: its main process is SIGSTOPped once a task of the run is
running, and left stopped. Its liveness probe fails, the supervisor finds it used no CPU time, restarts it
(SIGTERM, and SIGKILL 10 s later in the tests' stack, `scheduler_probe`: a stopped process does not act on
SIGTERM), and the run must finish.

What is recorded proves the fault and its recovery: the PIDs and start times of every process of the old
scheduler's tree (Airflow 2's DagFileProcessorManager, in a process group of its own, among them), the
supervisor's lines after the hang, which of those processes were still running once the new scheduler
had started and 40 s later, and every metadata-database session seen idle in a transaction (sampled
every 2 s until the run ends), with the database's idle_in_transaction_session_timeout."""

import datetime as dt
import signal
import threading
import time

import psutil

from tests.e2e.faults import Poll, one_value

RESTART_TIMEOUT = 300  # the health check's 15 s (tests/conftest.py), the probe's start grace, three failed probes, SIGTERM's grace, the restart


def _scheduler(stack, started_after: float = 0.0) -> psutil.Process | None:
    """The scheduler's main process: the supervisor's child started last, if it started after `started_after`
    (the supervisor's other children are orphans of the scheduler's tree, which it re-parents to itself)."""
    try:
        children = psutil.Process(int(stack.pid_file("scheduler").read_text())).children()
        newest = max(children, key=lambda p: p.create_time()) if children else None
        return newest if newest is not None and newest.create_time() > started_after else None
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None


def _tree(root: psutil.Process) -> list[dict]:
    """The root and its descendants (pid, started, command) that are running now (not exited, not zombies)."""
    found = []
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for proc in procs:
        try:
            found.append({"pid": proc.pid, "started": proc.create_time(), "command": " ".join(proc.cmdline())})
        except psutil.NoSuchProcess:  # exited meanwhile, or a zombie (psutil.ZombieProcess): gone already
            continue
    return found


def _still_running(procs: list[dict]) -> list[dict]:
    """Those of `procs` (pid, started, command) whose PID is alive with the same start time."""
    left = []
    for proc in procs:
        try:
            now = psutil.Process(proc["pid"])
            if abs(now.create_time() - proc["started"]) < 0.01 and now.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except psutil.NoSuchProcess:
            continue
    return left


def _idle_in_transaction(airflow: Poll, seen: dict) -> None:
    row = airflow.row("SELECT pid, extract(epoch FROM now() - state_change), left(query, 200)"
                      " FROM pg_stat_activity WHERE datname = 'airflow' AND state = 'idle in transaction'"
                      " ORDER BY state_change LIMIT 1")
    if row and row[1] > seen.get("longest_idle_in_transaction", (None, 0.0))[1]:
        seen["longest_idle_in_transaction"] = (row[0], float(row[1]), row[2])


def hang_the_scheduler(stack, done: threading.Event, hang: dict, dag_id: str, task_id: str) -> None:
    """Once `task_id` of `dag_id` runs, SIGSTOP the scheduler; record the recovery (module docstring)."""
    running = (f"SELECT count(*) FROM task_instance WHERE dag_id = '{dag_id}' AND task_id = '{task_id}'"
               " AND state = 'running'")
    log = stack.log_dir / "scheduler.log"
    with Poll(stack, "airflow") as airflow:
        while not done.is_set():
            if airflow.value(running) and (scheduler := _scheduler(stack)) is not None:
                offset, tree = log.stat().st_size, _tree(scheduler)
                try:
                    scheduler.send_signal(signal.SIGSTOP)  # psutil: the same process, checked by its start time
                    hang["tree"] = tree
                    break
                except psutil.NoSuchProcess:  # it exited as it was found (its supervisor starts it again): next one
                    continue
            time.sleep(0.2)
        else:
            return
        # On a session opened now, as Airflow's are: `airflow` may have connected to the fresh copy of the metadata
        # template before the stack set the timeout on it, and a database's setting applies from a session's start
        hang["timeout"] = one_value(stack, "airflow", "SHOW idle_in_transaction_session_timeout")
        stopped = time.time()
        hang.update(at=dt.datetime.now(dt.timezone.utc), task=f"{dag_id}.{task_id}")
        deadline = time.monotonic() + RESTART_TIMEOUT
        while not done.is_set() and time.monotonic() < deadline:
            _idle_in_transaction(airflow, hang)
            if _scheduler(stack, started_after=stopped) is not None:  # the new scheduler
                hang["left_at_restart"] = _still_running(hang["tree"])
                hang["restarted_at"] = dt.datetime.now(dt.timezone.utc)
                break
            time.sleep(1)
        checked_later = time.monotonic() + 40
        while not done.is_set():
            _idle_in_transaction(airflow, hang)
            if "left_40s_later" not in hang and time.monotonic() > checked_later:
                hang["left_40s_later"] = _still_running(hang["tree"])
            time.sleep(2)
        hang.setdefault("left_40s_later", _still_running(hang["tree"]))
        with open(log, errors="replace") as out:
            out.seek(offset)
            hang["supervisor"] = [line.strip() for line in out if line.startswith("[supervise]")]
