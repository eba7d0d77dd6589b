"""Airflow's processes on the stack, each kept running by scripts/supervise.py: scheduler, triggerer and
webserver on Airflow 2; scheduler, DAG processor, triggerer and API server on Airflow 3; in Celery mode
two Celery workers, each as on a machine of its own."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from psycopg2 import sql as pgsql

from include.finance import sql

from .common import (AIRFLOW_3, DAGS_FOLDER, DASHBOARD_USER, LOCK, PROJECT_ROOT, UI_PASSWORD, UI_USER, StackError, http_ok,
                     local_secret, log, settings, wait_for)
from .postgres import METADATA_DB

# the process that serves the UI and the REST API last: it is what `up` waits for
AIRFLOW_PROCESSES = ("scheduler", "dag-processor", "triggerer", "api-server") if AIRFLOW_3 else (
    "scheduler", "triggerer", "webserver")
EXECUTORS = ("local", "celery")
CELERY_WORKERS = ("worker-1", "worker-2")  # also their host names
CELERY_CONCURRENCY = 4  # tasks at once per worker
METADATA_TEMPLATE = "airflow_template"  # an empty, migrated metadata database
AIRFLOW = str(Path(sys.executable).parent / "airflow")
PRELOAD = [sys.executable, str(PROJECT_ROOT / "scripts" / "preload.py")]  # tasks fork from these processes


def metadata_template_key() -> str:
    """What the metadata template was migrated for (its database comment): the lock that pins Airflow (and, on
    Airflow 2, the UI's login made in it)."""
    return f"{LOCK.name} " + hashlib.sha1(LOCK.read_bytes()).hexdigest() + ("" if AIRFLOW_3 else f" {UI_USER}")


def isolated(hostname: str) -> list[str]:
    """A command prefix that runs a process as on a machine of its own (Celery workers): host name
    `hostname`, a fresh tmpfs as /tmp and working folder, the project's include/ read-only, and its own
    PID namespace, whose first process takes every other one with it when it is killed."""
    root, include = shlex.quote(str(PROJECT_ROOT)), shlex.quote(str(PROJECT_ROOT / "include"))
    # a project under /tmp (a CI checkout) stays where it is: kept aside on /mnt, put back on the new /tmp
    keep = PROJECT_ROOT.is_relative_to("/tmp")
    setup = " && ".join([
        *([f"mount --rbind {root} /mnt"] if keep else []),
        "mount -t tmpfs -o mode=1777 scratch /tmp",
        *([f"mkdir -p {root}", f"mount --rbind /mnt {root}"] if keep else []),
        "mkdir /tmp/work", "cd /tmp/work",
        f"mount --bind {include} {include}", f"mount -o remount,bind,ro {include}",
        f"hostname {shlex.quote(hostname)}", 'exec "$@"'])
    return ["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "sh", "-c", setup, hostname]


def dag_env(airflow_home: Path) -> dict[str, str]:
    """The environment Airflow and the DAG files read when they are imported: the stack's processes and `parse`."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **({} if AIRFLOW_3 else {"AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* astro.*",
                                 **settings.astro_sdk_env()}),
        "ENVIRONMENT": settings.environment,
    }


class Airflow:
    """Airflow's part of `Stack` (which gives the ports, `executor`, `extra_env`, the database and process helpers)."""

    state_dir: Path
    executor: str
    extra_env: dict[str, str]
    scheduler_probe: tuple[str, ...]

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.web_port}"

    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: settings and connections, as .env gives them under Docker."""
        celery = self.executor == "celery"
        env = {
            **dag_env(self.airflow_home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if celery else "LocalExecutor",
            # each Celery worker's own host name (its UTS namespace), recorded with every task it runs
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,  # with the password: in no log or command line
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_CONCURRENCY),
            # a message a lost worker took is delivered again after this (Airflow retries the task long before)
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            # Celery: no more tasks sent than the workers run at once, so a task is queued only while it is
            # on its way to a worker; one a lost worker took but never started is sent again after 120 s
            "AIRFLOW__CORE__PARALLELISM": str(len(CELERY_WORKERS) * CELERY_CONCURRENCY if celery else 16),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
            # a task the scheduler restarted under (the database went away, the probe found it hung) is left
            # running by the old scheduler's job, which only this check resets for a retry: every 30 s, not 300
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_uri(METADATA_DB, "postgresql+psycopg2"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
            **(self._airflow3_env() if AIRFLOW_3 else self._airflow2_env()),
            f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}": json.dumps(self.aws_connection()),
            f"AIRFLOW_CONN_{settings.db_conn_id.upper()}": self.db_uri(settings.db_name),
            f"AIRFLOW_CONN_{settings.mlflow_conn_id.upper()}": json.dumps(self.mlflow_connection()),
            "DB_PORT": str(self.pg_port),  # the dataset URI names the database the connection points at
            "AWS_EC2_METADATA_DISABLED": "true",
            # up to 16 tasks run at once (mapped training and plots: one per model) on a few cores: one thread each
            # for OpenMP and BLAS, whose idle threads otherwise spin on the cores the others need
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "POKE_INTERVAL": os.environ.get("POKE_INTERVAL", "2"),  # the sensors ask the loopback S3 endpoint
            "DASHBOARD_URL": self.dashboard_url,  # the UI's link to it (plugins/finance_dashboard.py)
        }
        return {**env, **self.extra_env}

    def _airflow2_env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "30",
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.web_port),
            # a task whose process died (e.g. with the database) is failed and retried after 60 s, not 300
            "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "60",
            "AIRFLOW__WEBSERVER__WORKERS": "2",
            # one DAG file parsed at a time: two processes saving finance_elt (the dataset's producer) and finance_ml
            # (its consumer) at once both insert the new dataset, and one fails on idx_uri_unique, its DAG missing
            # until the file's next parse (seen on a first start; Airflow 3's processors leave the saving to one)
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
            "AIRFLOW__WEBSERVER__SECRET_KEY": local_secret(self.state_dir / "webserver_secret_key"),
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
        }

    def _airflow3_env(self) -> dict[str, str]:
        """Airflow 3's names for the same settings, and what its processes need to find each other: the tasks
        report to the API server's execution API, with tokens the scheduler signs and the API server checks."""
        return {
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.web_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.web_port}/execution/",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",  # as SCHEDULER_ZOMBIE_TASK_THRESHOLD above
            "AIRFLOW__API__SECRET_KEY": local_secret(self.state_dir / "api_secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": local_secret(self.state_dir / "jwt_secret"),
            # the login: Airflow 3's simple auth manager, its password in a file of the state folder
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin,{DASHBOARD_USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file()),
        }

    def passwords_file(self) -> Path:
        """The simple auth manager's users and passwords (mode 0600): the documented local login, and the
        dashboard's read-only user with its password (`dashboard_airflow_password`)."""
        path = self.state_dir / "simple_auth_manager_passwords.json"
        users = {UI_USER: UI_PASSWORD, DASHBOARD_USER: self.dashboard_airflow_password}
        if not path.exists() or json.loads(path.read_text()) != users:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(users))
        return path

    def ensure_dashboard_airflow_user(self) -> None:
        """Airflow 2: the dashboard's user of the REST API, role Viewer (reads, never changes), made through the
        API as the admin (its password on no command line), its password set again where it exists."""
        import urllib.error

        user = {"username": DASHBOARD_USER, "password": self.dashboard_airflow_password, "first_name": "Results",
                "last_name": "Dashboard", "email": "dashboard@localhost", "roles": [{"name": "Viewer"}]}
        try:
            self.api("POST", "users", user)
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: made by an earlier start
                raise
            self.api("PATCH", f"users/{DASHBOARD_USER}?update_mask=password", user)

    def airflow(self, *args: str, check: bool = True, database: str = METADATA_DB) -> subprocess.CompletedProcess:
        """`airflow ARGS...` with the stack's environment (on the metadata database `database`), its output captured."""
        env = {**self.env(), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_uri(database, "postgresql+psycopg2")}
        proc = subprocess.run([AIRFLOW, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise StackError(f"`airflow {' '.join(args)}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc

    def start_airflow(self, migrate: bool = True) -> None:
        if migrate:
            log("airflow db migrate")
            self.airflow("db", "migrate")
        # No log servers (they listen on every interface, Airflow has no setting for it): the webserver
        # (API server) reads the task logs from the log folder all processes share.
        commands = {"scheduler": [*PRELOAD, "scheduler", "--skip-serve-logs"],
                    "triggerer": [AIRFLOW, "triggerer", "--skip-serve-logs"], "webserver": [AIRFLOW, "webserver"],
                    "dag-processor": [AIRFLOW, "dag-processor"], "api-server": [AIRFLOW, "api-server"]}
        for name in AIRFLOW_PROCESSES:
            # restarted when they exit (and the scheduler when its health check fails), as on a deployment
            probe = ["--health", f"http://127.0.0.1:{self.health_port}/health", *self.scheduler_probe] if (
                name == "scheduler") else []
            port = {"scheduler": self.health_port, "webserver": self.web_port, "api-server": self.web_port}.get(name)
            self._spawn(name, [sys.executable, str(PROJECT_ROOT / "scripts" / "supervise.py"), *probe, "--", *commands[name]],
                        port=port)
        if self.executor == "celery":
            for name in CELERY_WORKERS:  # not restarted: a lost worker stays lost, as a lost machine
                self._spawn(name, [*isolated(name), *PRELOAD, "celery", "worker", "--skip-serve-logs"])
        if migrate:  # the login, while they start; a copy of the metadata template has it (`fresh_metadata`)
            self.create_ui_user()
        server = AIRFLOW_PROCESSES[-1]
        wait_for(lambda: http_ok(self.health_url), 180, f"the Airflow {server}", self.log_dir / f"{server}.log")
        if not AIRFLOW_3:  # Airflow 3: passwords_file
            self.ensure_dashboard_airflow_user()
        log(f"Airflow UI on {self.web_url} (login {UI_USER} / {UI_PASSWORD})")

    @property
    def health_url(self) -> str:
        return f"{self.web_url}/api/v2/monitor/health" if AIRFLOW_3 else f"{self.web_url}/health"

    def create_ui_user(self, database: str = METADATA_DB) -> None:
        """Airflow 2: the UI's login (an existing user is left as it is; 5 s of CPU); Airflow 3: `passwords_file`."""
        if not AIRFLOW_3:
            self.airflow("users", "create", "--username", UI_USER, "--password", UI_PASSWORD, "--role", "Admin",
                         "--firstname", "Local", "--lastname", "Admin", "--email", "admin@localhost", database=database)

    def fresh_metadata(self) -> None:
        """Replace Airflow's metadata database by an empty, migrated one: a copy of a template migrated
        once per requirements.lock (`CREATE DATABASE ... TEMPLATE` takes 0.1 s, `airflow db migrate` 5 s). The
        template itself is migrated, not copied from the metadata database: a copy's source must have no other
        session, and a session on the metadata database (a psql, a test's probe) may come at any time."""
        key = metadata_template_key()
        self.drop_database(METADATA_DB)
        if self.admin(sql.read("stack/database_comment.sql"), METADATA_TEMPLATE) != (key,):
            self.drop_database(METADATA_TEMPLATE)
            self._ensure_database(METADATA_TEMPLATE)
            log("airflow db migrate")
            self.airflow("db", "migrate", database=METADATA_TEMPLATE)
            self.create_ui_user(METADATA_TEMPLATE)
            self.admin(sql.compose("stack/comment_database.sql", database=METADATA_TEMPLATE, comment=pgsql.Literal(key)))
        self.admin(sql.compose("stack/copy_database.sql", database=METADATA_DB, template=METADATA_TEMPLATE))
        self.configure_metadata_database()
