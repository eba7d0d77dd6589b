"""`Stack`: every service of the local stack, each a process (group) started by `up` and stopped by the
PID it recorded in <state>/pids/ (PostgreSQL by its postmaster.pid)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from include.finance.airflow_api import AirflowAPI
from include.finance.ingestion.bucket import MANIFESTS_PREFIX

from .airflow import AIRFLOW_PROCESSES, CELERY_WORKERS, EXECUTORS, Airflow, isolated
from .common import (AIRFLOW_3, LOCAL, PROJECT_ROOT, UI_PASSWORD, UI_USER, StackError, group_alive, kill_all,
                     kill_group, log, port_holder, process_tree, reap, settings)
from .dashboard import Dashboard, dashboard_unavailable
from .mlflow import MLflow, mlflow_unavailable
from .postgres import Postgres, find_pg_bin
from .redis import Redis
from .s3 import S3

# what `up` may start besides PostgreSQL
SERVICES = ("s3", "redis", "mlflow", *AIRFLOW_PROCESSES, *CELERY_WORKERS, "dashboard")


def services_unavailable(executor: str = "local") -> str | None:
    """Why the local services cannot start here (None if they can); tests skip with this reason."""
    if executor == "celery":
        if shutil.which("redis-server") is None:
            return "redis-server not found (Celery's broker): apt-get install redis-server"
        probe = subprocess.run([*isolated("probe"), "true"], capture_output=True, text=True)
        if probe.returncode != 0:  # not root, or a container without CAP_SYS_ADMIN
            return ("the isolated Celery workers need Linux namespaces (root, or a privileged container): "
                    + (probe.stderr.strip()[-200:] or f"unshare exited {probe.returncode}"))
    if find_pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql, or set PG_BIN"
    if shutil.which("moto_server", path=str(Path(sys.executable).parent)) is None:
        return "moto_server not installed in this Python environment (requirements.lock has moto[server])"
    if mlflow_unavailable():
        return mlflow_unavailable()
    if dashboard_unavailable():
        return dashboard_unavailable()
    if os.geteuid() == 0:
        import pwd

        if shutil.which("runuser") is None:
            return "running as root and runuser is missing: PostgreSQL refuses to run as root"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


@dataclass
class Stack(Postgres, S3, Redis, MLflow, Airflow, Dashboard):
    state_dir: Path = LOCAL
    # Fixed ports stay below Linux's ephemeral range (32768-60999), where outgoing connections take their
    # local ports: a client socket in TIME_WAIT there can hold the port and fail the next start.
    pg_port: int = settings.db_port
    s3_port: int = int(os.environ.get("LOCAL_S3_PORT", "25900"))
    web_port: int = int(os.environ.get("AIRFLOW_WEB_PORT", "8080"))
    health_port: int = int(os.environ.get("SCHEDULER_HEALTH_PORT", "8974"))  # the scheduler's liveness probe
    redis_port: int = int(os.environ.get("LOCAL_REDIS_PORT", "26379"))  # Celery's broker (Celery mode only)
    mlflow_port: int = int(os.environ.get("LOCAL_MLFLOW_PORT", "25500"))  # the MLflow tracking server and its UI
    dashboard_port: int = int(os.environ.get("DASHBOARD_PORT", "8501"))  # the results dashboard (Streamlit)
    executor: str = os.environ.get("EXECUTOR", "local")
    extra_env: dict[str, str] = field(default_factory=dict)
    # scripts/supervise.py's options for the scheduler's liveness probe and stop (default: a deployment's timings)
    scheduler_probe: tuple[str, ...] = ()

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.state_dir / "pids" / f"{name}.pid"

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """One call of the REST API as the admin user; its JSON answer."""
        return AirflowAPI(self.web_url, UI_USER, UI_PASSWORD, AIRFLOW_3)(method, path, body)

    # --- processes ----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, port: int | None = None) -> None:
        """Start `argv` in its own process group, output to logs/<name>.log; `env`: Airflow's by default. A service
        that listens on `port` is not started where something listens there already: a process an earlier run left
        would answer in its place, and outlive the stack that did not start it."""
        if port is not None:
            holder = port_holder(port)
            if holder:
                raise StackError(f"{name} cannot start: 127.0.0.1:{port} is taken by {holder} (another stack, or"
                                 " what an earlier run left: make down, or stop it)")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env or self.env(), cwd=PROJECT_ROOT,
                                    start_new_session=True)
        self.pid_file(name).write_text(str(proc.pid))

    def _alive(self, name: str) -> bool:
        try:
            os.kill(int(self.pid_file(name).read_text()), 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def _stop(self, *names: str, grace: float = 30.0) -> None:
        """SIGTERM the process groups started for `names` (gunicorn and task workers included) at once,
        wait until they are gone, SIGKILL what is left after `grace` seconds. Every process each one had
        started when the stop began (its whole tree, whatever process group or session a process moved
        to) is gone when this returns: the supervisor ends its tree itself, and what outlives a supervisor
        that had to be killed is killed here."""
        groups, trees = {}, []
        for name in names:
            try:
                groups[name] = int(self.pid_file(name).read_text())
            except (FileNotFoundError, ValueError):
                continue
            trees += process_tree(groups[name])
            kill_group(groups[name], signal.SIGTERM)
        deadline = time.monotonic() + grace
        while groups and time.monotonic() < deadline:
            for name, pid in list(groups.items()):
                reap(pid)
                if not group_alive(pid):
                    del groups[name]
            time.sleep(0.3)
        for name, pid in groups.items():
            log(f"{name} did not stop in {grace:.0f}s: killing it")
            kill_group(pid, signal.SIGKILL)
        kill_all(trees)
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)

    def pids(self) -> dict[str, int]:
        """The process (group) id of each running service `up` started, PostgreSQL's postmaster included."""
        found = {name: int(self.pid_file(name).read_text()) for name in SERVICES if self._alive(name)}
        postmaster = self.postmaster_pid()
        return found | ({"postgres": postmaster} if postmaster is not None else {})

    # --- the whole stack ----------------------------------------------------------------------
    def up(self, fresh_metadata: bool = False) -> None:
        if self.executor not in EXECUTORS:
            raise StackError(f"EXECUTOR must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        reason = services_unavailable(self.executor)
        if reason:
            raise StackError(reason)
        running = [n for n in SERVICES if self._alive(n)]
        if running:
            raise StackError(f"already running from {self.state_dir}: {', '.join(running)} (make down first)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        restored = False
        try:
            self.start_postgres()
            if fresh_metadata:
                self.fresh_metadata()
            self.start_s3()
            # With fresh metadata the days' runs start over: a restored manifest (a day's upload is
            # complete) would let finance_elt load the files in_finance_data is about to replace.
            self.restore_s3(skip=(MANIFESTS_PREFIX,) if fresh_metadata else ())
            restored = True
            self.start_mlflow(wait=False)  # it starts while Airflow does: the tasks need it once a DAG runs
            if self.executor == "celery":
                self.start_redis()
            self.start_airflow(migrate=not fresh_metadata)
            self.start_dashboard()
            self.wait_for_mlflow()
        except BaseException:
            self.down(save=restored)  # an S3 endpoint that never got the saved objects back has nothing to save
            raise

    def down(self, save: bool = True) -> None:
        """Stop every process `up` started (each by the PID it recorded, with its process group); keep the data."""
        self._stop("dashboard", *AIRFLOW_PROCESSES, *CELERY_WORKERS, "mlflow")  # MLflow before its artifacts are saved
        try:
            if save:
                self.save_s3()
        finally:
            self._stop("s3", "redis")
            self.stop_postgres()
        log("stopped")

    def reset(self) -> None:
        """`down`, then delete all local state: the databases, the saved objects, logs, Airflow's home."""
        self.down()
        for folder in (self.pg_data, self.state_dir):
            shutil.rmtree(folder, ignore_errors=True)
        log(f"deleted {self.state_dir}" + (f" and {self.pg_data}" if not self.pg_data.is_relative_to(self.state_dir) else ""))
