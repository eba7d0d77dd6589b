"""Fixtures the database and end-to-end layers share: the local stack on free loopback ports, of which
the database tests use PostgreSQL (and moto's S3 endpoint) only, and a connection to its database."""

import os
import random
import shutil
import socket
from pathlib import Path

import pytest

from include.finance.config import PROJECT_ROOT
from scripts.stack import LOCAL, Stack, services_unavailable, settings


def process_clock() -> float:
    """Now, on the clock of the processes' start times (psutil's: the boot time, a whole second, plus the uptime),
    which can be up to a second off time.time()."""
    import psutil

    with open("/proc/uptime") as uptime:
        return psutil.boot_time() + float(uptime.read().split()[0])


# when each test of this session began (`process_clock`, its id): what a leftover process's start is told against
TIMELINE: list[tuple[float, str]] = []


@pytest.fixture(autouse=True)
def _timeline(request):
    TIMELINE.append((process_clock(), request.node.nodeid))


# Every process this session starts inherits its environment, and with it this mark: a process of another session
# running at the same time (`.ci/run`: the other edition's, a unit layer's), carries that session's
SESSION_MARK = "FINANCE_TEST_SESSION"
os.environ[SESSION_MARK] = str(os.getpid())


def other_session(proc) -> bool:
    """Whether the process, or the nearest of its ancestors whose environment says, is another session's. A child
    of PostgreSQL's postmaster writes its title over its environment: its postmaster says."""
    import psutil

    for each in (proc, *proc.parents()):
        try:
            mark = each.environ().get(SESSION_MARK)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if mark is not None:
            return mark != os.environ[SESSION_MARK]
    return False


def clone_processes(with_start: bool = False) -> list[str]:
    """Every process whose command line or working folder is inside the project and that this test session
    started: it began after this process did, its ancestors, up to this process or to init (an orphan), are
    all inside the project too (a shell that merely works in the project belongs to a terminal; an orphan of an
    earlier session, `make test AIRFLOW=3` after `make test`, is that session's), and it is not `other_session`'s
    (`SESSION_MARK`: another session, side by side with this one in `.ci/run`).
    "pid cwd: command line", with `with_start` also when it started and the test running then."""
    import datetime as dt

    import psutil

    def inside(proc: psutil.Process) -> bool:
        cmdline, cwd = " ".join(proc.cmdline()), proc.cwd()
        return f"{PROJECT_ROOT}/" in cmdline or cwd == str(PROJECT_ROOT) or cwd.startswith(f"{PROJECT_ROOT}/")

    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid in mine or proc.create_time() < me.create_time() or not inside(proc):
                continue
            if other_session(proc):
                continue
            ancestor = proc.parent()
            while ancestor is not None and ancestor.pid not in mine and ancestor.pid != 1 and inside(ancestor):
                ancestor = ancestor.parent()
            if ancestor is None or ancestor.pid in (me.pid, 1):  # not a sibling of this session (`| tee`)
                found.append(f"{proc.pid} {proc.cwd()}: {' '.join(proc.cmdline())}")
                if with_start:
                    # a start time is counted in clock ticks (10 ms): one a tick before the test began is the test's
                    during = [test for began, test in TIMELINE if began <= proc.create_time() + 0.01]
                    found[-1] += (f" (started {dt.datetime.fromtimestamp(proc.create_time()):%H:%M:%S}, during "
                                  f"{during[-1] if during else 'the session setup'})")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def free_ports(count: int) -> list[int]:
    """`count` loopback ports free now, all different, below Linux's ephemeral range (where a process that binds port
    0, chromedriver for one, or an outgoing connection, takes its port: seen taking the dashboard's): each is held
    until the last is found."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except OSError:  # not Linux: below Linux's default range is below the IANA dynamic range (49152) too
        low = 32768
    sockets = []
    try:
        for port in random.sample(range(max(1024, low - 20000), low), 200):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use
                s.close()
                continue
            sockets.append(s)
            if len(sockets) == count:
                return [s.getsockname()[1] for s in sockets]
        raise RuntimeError(f"no {count} free loopback ports below {low}")
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


@pytest.fixture(scope="session")
def stack():
    reason = services_unavailable()
    if reason:
        pytest.skip(f"local services cannot start here: {reason}")
    state = LOCAL / "e2e"
    shutil.rmtree(state, ignore_errors=True)
    pg_port, s3_port, web_port, health_port, redis_port, mlflow_port, dashboard_port = free_ports(7)
    stack = Stack(
        state_dir=state,
        pg_port=pg_port,
        s3_port=s3_port,
        web_port=web_port,
        health_port=health_port,
        redis_port=redis_port,
        mlflow_port=mlflow_port,
        dashboard_port=dashboard_port,
        # a task whose worker died is failed (and retried) 30 s after its last heartbeat, one it had taken
        # but not started is sent again 45 s after it was queued
        extra_env={"POKE_INTERVAL": "3", "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "45",
                   # Airflow 3's name of the setting, and Airflow 2's (each ignores the other's)
                   "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                   "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "30",
                   # the tasks of a scheduler that went away are reset within 10 s of their job being found dead
                   "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
                   # the scheduler's health check fails 15 s after its last heartbeat (5 s apart), not 30 s
                   "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
                   # a DAG file is parsed when its processor starts, and again after 10 minutes, not every 30 s:
                   # no test changes a DAG file while the stack runs (Airflow 2's name, then Airflow 3's)
                   "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
                   "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600"},
        # a hung scheduler is found by probes 5 s apart (from 30 s after its start) and killed 10 s after its SIGTERM
        scheduler_probe=("--start-grace", "30", "--probe-every", "5", "--stop-grace", "10"),
    )
    stack.start_postgres()
    yield stack
    stack.down()
    # `make test AIRFLOW=3` runs after `make test` on the same machine: what this session leaves is failed here,
    # where it was left, with the test it was started in
    left = clone_processes(with_start=True)
    assert left == [], f"the test session left processes of the project running after the stack's down: {left}"


@pytest.fixture
def finance_db(stack):
    import psycopg2

    conn = psycopg2.connect(stack.db_uri(settings.db_name))
    yield conn
    conn.close()


@pytest.fixture
def schema_db(finance_db, request):
    """`finance_db` with every table of the pipeline in a fresh schema named by the test module's SCHEMA
    (`schema.create_tables`), dropped afterwards."""
    from include.finance import schema, sql

    name = request.module.SCHEMA
    with finance_db, finance_db.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {sql.quoted(name)} CASCADE")
    schema.create_tables(finance_db, name)
    yield finance_db
    with finance_db, finance_db.cursor() as cur:
        cur.execute(f"DROP SCHEMA {sql.quoted(name)} CASCADE")


@pytest.fixture(scope="module")
def mlflow_server(stack):
    """The stack's MLflow server (its PostgreSQL, its S3 endpoint for the artifacts) for the module's tests: started
    where it is not running (a finished end-to-end run has stopped it), and what this started is stopped after the
    module, the S3 endpoint's objects saved first, as `down` does. Left running, the next `start_s3` of the stack
    would find the port taken: the stack's S3 endpoint is one process at a time. The stack."""
    from scripts.stack.mlflow import mlflow_unavailable

    reason = mlflow_unavailable()
    if reason:
        pytest.skip(f"the MLflow server cannot start here: {reason}")
    started = []
    if not stack._alive("s3"):
        stack.start_s3()
        stack.restore_s3()  # what a finished pipeline run saved: its models' artifacts
        started.append("s3")
    if not stack._alive("mlflow"):
        stack.start_mlflow()
        started.append("mlflow")
    yield stack
    if "mlflow" in started:
        stack._stop("mlflow")  # before its artifacts are saved
    if "s3" in started:
        stack.save_s3()
        stack._stop("s3")


@pytest.fixture
def mlflow_env(mlflow_server, monkeypatch, request):
    """The tasks' view of `mlflow_server` (MLflow's environment variables, as a training pod has them), and a
    registered model and experiment of the test's own (named after it): MLflow's client on them."""
    import dataclasses

    from include.finance.production import registry, steps
    from include.finance.training import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.mlflow_url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_server.mlflow_password)
    name = request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]
    own = dataclasses.replace(tracking.settings, mlflow_experiment=name, mlflow_registered_model=name)
    for module in (tracking, registry, steps):
        monkeypatch.setattr(module, "settings", own)
    return tracking.client()
