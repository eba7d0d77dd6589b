"""The local stack without Docker: a private PostgreSQL cluster, moto's S3 server and Airflow.

    python scripts/stack.py up      start everything, keep it running (UI on http://localhost:8080)
    python scripts/stack.py down    stop every process `up` started; keep the data (PostgreSQL's
                                    cluster, the S3 objects saved to .local/s3/) for the next `up`
    python scripts/stack.py reset   down, then delete all local state
    python scripts/stack.py run     up, unpause the DAGs, wait for the dataset-triggered finance_ml
                                    run, write include/results/summary.json (and the run's plots,
                                    downloaded from the bucket), down
    --executor celery               (or EXECUTOR=celery) Airflow's CeleryExecutor with Redis as broker
                                    and two Celery workers instead of the LocalExecutor

PostgreSQL holds Airflow's metadata (database `airflow`, so the LocalExecutor runs mapped tasks in
parallel) and the pipeline's data (database `finance`). Everything lives under one folder
(`.local/` by default, git-ignored); every listener is on 127.0.0.1 and the ports can be changed by env
vars (LOCAL_PG_PORT, LOCAL_S3_PORT, LOCAL_REDIS_PORT, AIRFLOW_WEB_PORT). DAG code sees only Airflow
connections, exactly as under `astro dev start`.

In Celery mode each worker runs as on a machine of its own: its own host name (a UTS namespace), its
own /tmp and working folder (a fresh tmpfs in its own mount namespace, where the project's include/ is
read-only) and its own process tree (a PID namespace), so a task that reads a file another task wrote
fails, as it would on a deployment. This needs root (or unprivileged user namespaces: not used here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from include.finance.config import settings  # noqa: E402
from include.finance.report import model_table  # noqa: E402
from include.finance.storage import MANIFESTS_PREFIX  # noqa: E402

DAG_IDS = ("in_finance_data", "finance_elt", "finance_ml")
PG_USER = "postgres"  # its password is made per clone: Stack.pg_password, in <state>/pg_password
UI_USER = UI_PASSWORD = "admin"  # documented local login of the UI
AIRFLOW_PROCESSES = ("scheduler", "triggerer", "webserver")
EXECUTORS = ("local", "celery")
CELERY_WORKERS = ("worker-1", "worker-2")  # also their host names
CELERY_CONCURRENCY = 4  # tasks at once per worker
SERVICES = ("s3", "redis", *AIRFLOW_PROCESSES, *CELERY_WORKERS)  # what `up` may start besides PostgreSQL
METADATA_TEMPLATE = "airflow_template"  # an empty, migrated metadata database


class StackError(RuntimeError):
    """Something in the local stack did not come up or the pipeline failed; the message says what."""


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def find_pg_bin() -> Path | None:
    """The PostgreSQL server binaries: $PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, or PATH."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else "")
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


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
class Stack:
    state_dir: Path = ROOT / ".local"
    # Fixed ports stay below Linux's ephemeral range (32768-60999), where outgoing connections take their
    # local ports: a client socket in TIME_WAIT there can hold the port and fail the next start.
    pg_port: int = int(os.environ.get("LOCAL_PG_PORT", "25432"))
    s3_port: int = int(os.environ.get("LOCAL_S3_PORT", "25900"))
    web_port: int = int(os.environ.get("AIRFLOW_WEB_PORT", "8080"))
    health_port: int = int(os.environ.get("SCHEDULER_HEALTH_PORT", "8974"))  # the scheduler's liveness probe
    redis_port: int = int(os.environ.get("LOCAL_REDIS_PORT", "26379"))  # Celery's broker (Celery mode only)
    executor: str = os.environ.get("EXECUTOR", "local")
    extra_env: dict[str, str] = field(default_factory=dict)
    _api_session: urllib.request.OpenerDirector | None = field(default=None, init=False, repr=False)
    _api_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # --- paths ------------------------------------------------------------------------------
    @cached_property
    def pg_data(self) -> Path:
        """`<state>/postgres`; as root, where the `postgres` user cannot reach that, a folder under /tmp."""
        data = self.state_dir / "postgres"
        if os.geteuid() == 0 and not _postgres_user_can_reach(self.state_dir):
            digest = hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
            return Path(tempfile.gettempdir()) / f"finance-elt-ml-postgres-{digest}"
        return data

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.state_dir / "pids" / f"{name}.pid"

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.web_port}"

    @property
    def pg_password(self) -> str:
        """The cluster's superuser password: random, made once per state folder in <state>/pg_password."""
        return local_secret(self.state_dir / "pg_password")

    def db_uri(self, database: str, driver: str = "postgresql", password: bool = True) -> str:
        """The database's URI; without the password for a command line (`ps` shows it): set `psql_env()` then."""
        secret = f":{self.pg_password}" if password else ""
        return f"{driver}://{PG_USER}{secret}@127.0.0.1:{self.pg_port}/{database}"

    def psql_env(self) -> dict[str, str]:
        """The environment for `psql` and other libpq clients given `db_uri(..., password=False)`."""
        return {**os.environ, "PGPASSWORD": self.pg_password}

    # --- environment --------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: settings and connections, as .env gives them under Docker."""
        aws_conn = {
            "conn_type": "aws",
            "login": "local-access-key",
            "password": "local-secret-key",
            "extra": {"endpoint_url": f"http://127.0.0.1:{self.s3_port}", "region_name": "us-east-1"},
        }
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": {"local": "LocalExecutor", "celery": "CeleryExecutor"}[self.executor],
            # each Celery worker's own host name (its UTS namespace), recorded with every task it runs
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_CONCURRENCY),
            # a message a lost worker took is delivered again after this (Airflow retries the task long before)
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            # Celery: no more tasks sent than the workers run at once, so a task is queued only while it is
            # on its way to a worker; one a lost worker took but never started is sent again after 120 s
            "AIRFLOW__CORE__PARALLELISM": str(len(CELERY_WORKERS) * CELERY_CONCURRENCY if self.executor == "celery" else 16),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_uri("airflow", "postgresql+psycopg2"),
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* astro.*",
            **settings.astro_sdk_env(),
            "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "30",
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.web_port),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # a task whose process died (e.g. with the database) is failed and retried after 60 s, not 300
            "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "60",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
            "AIRFLOW__WEBSERVER__WORKERS": "2",
            "AIRFLOW__WEBSERVER__SECRET_KEY": local_secret(self.state_dir / "webserver_secret_key"),
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
            f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}": json.dumps(aws_conn),
            f"AIRFLOW_CONN_{settings.db_conn_id.upper()}": self.db_uri(settings.db_name),
            "ENVIRONMENT": "local",
            "AWS_EC2_METADATA_DISABLED": "true",
            # up to 16 tasks run at once (mapped training and plots: one per model) on a few cores: one thread each
            # for OpenMP and BLAS, whose idle threads otherwise spin on the cores the others need
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "POKE_INTERVAL": os.environ.get("POKE_INTERVAL", "2"),  # the sensors ask the loopback S3 endpoint
        }
        env.update(self.extra_env)
        return env

    # --- processes ----------------------------------------------------------------------------
    def _as_pg_user(self, argv: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root; there, its commands run as the `postgres` system user.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start `argv` in its own process group, output to logs/<name>.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env or self.env(), cwd=ROOT, start_new_session=True
            )
        self.pid_file(name).write_text(str(proc.pid))

    def _alive(self, name: str) -> bool:
        try:
            pid = int(self.pid_file(name).read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def _stop(self, *names: str, grace: float = 30.0) -> None:
        """SIGTERM the process groups started for `names` (gunicorn and task workers included) at once,
        wait until they are gone, SIGKILL what is left after `grace` seconds."""
        groups = {}
        for name in names:
            try:
                groups[name] = int(self.pid_file(name).read_text())
                os.killpg(groups[name], signal.SIGTERM)
            except (FileNotFoundError, ValueError, ProcessLookupError):
                pass
        deadline = time.monotonic() + grace
        while groups and time.monotonic() < deadline:
            for name, pid in list(groups.items()):
                reap(pid)
                if not group_alive(pid):
                    del groups[name]
            time.sleep(0.3)
        for name, pid in groups.items():
            log(f"{name} did not stop in {grace:.0f}s: killing it")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)

    def _airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(Path(sys.executable).parent / "airflow"), *args]
        proc = subprocess.run(argv, env=self.env(), cwd=ROOT, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise StackError(f"`airflow {' '.join(args)}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc

    # --- PostgreSQL ---------------------------------------------------------------------------
    def start_postgres(self) -> None:
        pg_bin = find_pg_bin()
        if pg_bin is None:
            raise StackError(services_unavailable() or "PostgreSQL not found")
        if not (self.pg_data / "PG_VERSION").exists():
            log(f"initdb {self.pg_data}")
            self.pg_data.mkdir(parents=True, exist_ok=True)
            # a copy of the password for initdb, next to the cluster (where `postgres` can read it under root)
            fd, pwfile = tempfile.mkstemp(dir=self.pg_data.parent, prefix=".initdb-pwfile-")
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(self.pg_password + "\n")
                if os.geteuid() == 0:
                    shutil.chown(self.pg_data, "postgres", "postgres")
                    shutil.chown(pwfile, "postgres", "postgres")
                self._run_pg([str(pg_bin / "initdb"), "-D", str(self.pg_data), "-U", PG_USER, "-E", "UTF8",
                              "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"])
            finally:
                os.unlink(pwfile)
        if not ((self.pg_data / "postmaster.pid").exists() and self._pg_ready()):
            options = (
                f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.pg_data} -c max_connections=200"
                # A throwaway development cluster: durability against OS crashes is not worth the time.
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                # No replicas: a COPY into a table created in the same transaction (the load's new
                # partition) then writes no WAL, as in PostgreSQL's "Populating a Database"
                " -c wal_level=minimal -c max_wal_senders=0"
            )
            self._run_pg([str(pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-l", str(self.pg_data / "server.log"),
                          "-o", options, "-w", "-t", "60", "start"])
        self._set_pg_password()  # also for a cluster made with another password (the older fixed default)
        for database in ("airflow", "finance"):
            self._ensure_database(database)
        log(f"PostgreSQL on 127.0.0.1:{self.pg_port} (databases airflow, finance)")

    def _run_pg(self, argv: list[str]) -> None:
        proc = subprocess.run(self._as_pg_user(argv), capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = self.pg_data / "server.log"
            tail = server_log.read_text()[-2000:] if server_log.exists() else ""
            raise StackError(f"{' '.join(argv[:1])} failed:\n{proc.stdout}\n{proc.stderr}\n{tail}")

    def _pg_ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(host=str(self.pg_data), port=self.pg_port, user=PG_USER, dbname="postgres",
                             connect_timeout=3).close()
        except psycopg2.OperationalError:
            return False
        return True

    def _set_pg_password(self) -> None:
        """Give the superuser `pg_password`, sent as a SCRAM verifier: no statement the server could log holds it."""
        import psycopg2
        from psycopg2.extensions import encrypt_password

        conn = psycopg2.connect(host=str(self.pg_data), port=self.pg_port, user=PG_USER, dbname="postgres")
        try:
            verifier = encrypt_password(self.pg_password, PG_USER, conn, "scram-sha-256")
        finally:
            conn.close()
        self._admin("ALTER ROLE postgres PASSWORD %s", verifier)

    def _admin(self, statement, *params):
        """One statement on the cluster's `postgres` database, outside a transaction; its first row, if any.

        Connects through the Unix socket in the data folder (trusted), so it works whatever the password."""
        import psycopg2

        conn = psycopg2.connect(host=str(self.pg_data), port=self.pg_port, user=PG_USER, dbname="postgres")
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params or None)
                return cur.fetchone() if cur.description else None
        finally:
            conn.close()

    def _ensure_database(self, name: str) -> None:
        from psycopg2 import sql

        if self._admin("SELECT 1 FROM pg_database WHERE datname = %s", name) is None:
            self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        from psycopg2 import sql

        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop_postgres(self) -> None:
        pg_bin = find_pg_bin()
        postmaster = self.pg_data / "postmaster.pid"
        if pg_bin and postmaster.exists():
            pid = int(postmaster.read_text().split()[0])
            subprocess.run(self._as_pg_user([str(pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w",
                                             "stop"]), capture_output=True)
            # pg_ctl returns when the pid file is gone, a moment before the postmaster has exited
            wait_for(lambda: not running(pid), 30, "PostgreSQL to exit", every=0.1)

    # --- S3 endpoint --------------------------------------------------------------------------
    def start_s3(self) -> None:
        moto = Path(sys.executable).parent / "moto_server"
        self._spawn("s3", [str(moto), "-H", "127.0.0.1", "-p", str(self.s3_port)])
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.s3_port}/"), 30, "the S3 endpoint (moto)",
                 self.log_dir / "s3.log")
        log(f"S3 API (moto) on http://127.0.0.1:{self.s3_port}")

    def stop_s3(self) -> None:
        self._stop("s3")

    @property
    def s3_saved(self) -> Path:
        return self.state_dir / "s3"

    def save_s3(self) -> None:
        """Copy every object to <state>/s3/<bucket>/<key> (moto keeps them in memory only); `up` restores them."""
        if not self._alive("s3"):
            return
        client, saving, count = s3_client(self), self.state_dir / "s3.saving", 0
        shutil.rmtree(saving, ignore_errors=True)
        saving.mkdir(parents=True)
        for bucket in client.list_buckets()["Buckets"]:
            folder = inside(saving, bucket["Name"])
            folder.mkdir(parents=True)
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        target = inside(folder, item["Key"])
                        target.parent.mkdir(parents=True, exist_ok=True)
                        client.download_file(bucket["Name"], item["Key"], str(target))
                        count += 1
        shutil.rmtree(self.s3_saved, ignore_errors=True)
        saving.rename(self.s3_saved)
        log(f"saved {count} objects of the S3 endpoint to {self.s3_saved}")

    def restore_s3(self, skip: tuple[str, ...] = ()) -> None:
        """Upload what `save_s3` saved, except keys starting with one of `skip`."""
        if not self.s3_saved.is_dir():
            return
        client, count = s3_client(self), 0
        for bucket in sorted(self.s3_saved.iterdir()):
            client.create_bucket(Bucket=bucket.name)
            for path in sorted(p for p in bucket.rglob("*") if p.is_file()):
                key = path.relative_to(bucket).as_posix()
                if not key.startswith(skip):
                    client.upload_file(str(path), bucket.name, key)
                    count += 1
        log(f"restored {count} objects from {self.s3_saved}")

    # --- Redis (Celery's broker) -------------------------------------------------------------
    def start_redis(self) -> None:
        self._spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                              "--save", "", "--appendonly", "no"])
        wait_for(lambda: _redis_ok(self.redis_port), 30, "Redis", self.log_dir / "redis.log", every=0.2)
        log(f"Redis on 127.0.0.1:{self.redis_port}")

    # --- Airflow ------------------------------------------------------------------------------
    def start_airflow(self, migrate: bool = True) -> None:
        if migrate:
            log("airflow db migrate")
            self._airflow("db", "migrate")
        airflow = str(Path(sys.executable).parent / "airflow")
        # No log servers (they listen on every interface, Airflow has no setting for it): the webserver
        # reads the task logs from the log folder all processes share.
        preload = [sys.executable, str(ROOT / "scripts" / "preload.py")]  # tasks fork from these processes
        commands = {"scheduler": [*preload, "scheduler", "--skip-serve-logs"],
                    "triggerer": [airflow, "triggerer", "--skip-serve-logs"], "webserver": [airflow, "webserver"]}
        for name in AIRFLOW_PROCESSES:
            # restarted when they exit (and the scheduler when its health check fails), as on a deployment
            probe = ["--health", f"http://127.0.0.1:{self.health_port}/health"] if name == "scheduler" else []
            self._spawn(name, [sys.executable, str(ROOT / "scripts" / "supervise.py"), *probe, "--", *commands[name]])
        if self.executor == "celery":
            for name in CELERY_WORKERS:  # not restarted: a lost worker stays lost, as a lost machine
                self._spawn(name, [*isolated(name), *preload, "celery", "worker", "--skip-serve-logs"])
        # the login, while they start (an existing user is left as it is)
        self._airflow("users", "create", "--username", UI_USER, "--password", UI_PASSWORD, "--role", "Admin",
                      "--firstname", "Local", "--lastname", "Admin", "--email", "admin@localhost")
        wait_for(lambda: _http_ok(f"{self.web_url}/health"), 180, "the Airflow webserver",
                 self.log_dir / "webserver.log")
        log(f"Airflow UI on {self.web_url} (login {UI_USER} / {UI_PASSWORD})")

    def fresh_metadata(self) -> None:
        """Replace Airflow's metadata database by an empty, migrated one: a copy of a template migrated
        once per requirements.lock (`CREATE DATABASE ... TEMPLATE` takes 0.1 s, `airflow db migrate` 5 s)."""
        from psycopg2 import sql

        key = metadata_template_key()
        template = sql.Identifier(METADATA_TEMPLATE)
        self.drop_database("airflow")
        made_for = self._admin("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                               METADATA_TEMPLATE)
        if made_for == (key,):
            self._admin(sql.SQL("CREATE DATABASE airflow TEMPLATE {}").format(template))
            return
        self.drop_database(METADATA_TEMPLATE)
        self._ensure_database("airflow")
        log("airflow db migrate")
        self._airflow("db", "migrate")
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE airflow").format(template))
        self._admin(sql.SQL("COMMENT ON DATABASE {} IS {}").format(template, sql.Literal(key)))

    # --- whole stack --------------------------------------------------------------------------
    def up(self, fresh_metadata: bool = False) -> None:
        if self.executor not in EXECUTORS:
            raise StackError(f"EXECUTOR must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        reason = services_unavailable(self.executor)
        if reason:
            raise StackError(reason)
        running = [n for n in SERVICES if self._alive(n)]
        if running:
            raise StackError(f"already running from {self.state_dir}: {', '.join(running)} (make down first)")
        self._api_session = None  # a session of an earlier `up` ended with its webserver
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
            if self.executor == "celery":
                self.start_redis()
            self.start_airflow(migrate=not fresh_metadata)
        except BaseException:
            self.down(save=restored)  # an S3 endpoint that never got the saved objects back has nothing to save
            raise

    def down(self, save: bool = True) -> None:
        """Stop every process `up` started (each by the PID it recorded, with its process group); keep the data."""
        self._stop(*AIRFLOW_PROCESSES, *CELERY_WORKERS)
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

    def pids(self) -> dict[str, int]:
        """The process (group) id of each running service `up` started, PostgreSQL's postmaster included."""
        found = {}
        for name in SERVICES:
            if self._alive(name):
                found[name] = int(self.pid_file(name).read_text())
        postmaster = self.pg_data / "postmaster.pid"
        if postmaster.exists():
            found["postgres"] = int(postmaster.read_text().split()[0])
        return found

    # --- REST API -----------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """A call of Airflow's REST API as the admin user, in the session of one UI login (a cookie).
        With HTTP basic auth the webserver hashes the password on every call: 0.15 s of its CPU per
        call against 0.02 s in a session, which adds up while `run` polls every second."""
        request = urllib.request.Request(
            f"{self.web_url}/api/v1/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        session = self._session()
        try:
            response = session.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            # the session ended (e.g. the metadata was reset): log in again
            response = self._session(stale=session).open(request, timeout=30)
        with response:
            return json.loads(response.read() or b"{}")

    def _session(self, stale: urllib.request.OpenerDirector | None = None) -> urllib.request.OpenerDirector:
        """The API session, logged in once for all threads (a fault injector polls beside `run`)."""
        with self._api_lock:
            if self._api_session is None or self._api_session is stale:
                self._api_session = self._login()
            return self._api_session

    def _login(self) -> urllib.request.OpenerDirector:
        """Log in through the UI's form (as a browser does) and return an opener that keeps the cookie."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(f"{self.web_url}/login/", timeout=30) as response:
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.read().decode())
        if token is None:
            raise StackError(f"no login form at {self.web_url}/login/")
        form = {"username": UI_USER, "password": UI_PASSWORD, "csrf_token": token.group(1)}
        with opener.open(f"{self.web_url}/login/", urllib.parse.urlencode(form).encode(), timeout=30) as response:
            if response.url.rstrip("/").endswith("/login"):
                raise StackError(f"could not log in to {self.web_url} as {UI_USER}")
        return opener


def local_secret(path: Path) -> str:
    """The secret kept in `path` (mode 0600), made (random) when there is none yet: one per clone and state folder."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(16) + "\n")
        try:
            os.link(draft, path)  # atomic: of two processes making it at once, both read the first one's
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # made readable to others by an older version
    return path.read_text().strip()


def inside(folder: Path, key: str) -> Path:
    """`folder / key`, for an S3 bucket name or object key; refuses one that would be written outside `folder`."""
    target, root = (folder / key).resolve(), folder.resolve()
    if key.startswith("/") or ".." in key.split("/") or target == root or not target.is_relative_to(root):
        raise StackError(f"refusing to save S3 key {key!r}: it would be written outside {folder}")
    return folder / key


def metadata_template_key() -> str:
    """What the metadata template was migrated for (its database comment): the lock that pins Airflow."""
    return "requirements.lock " + hashlib.sha1((ROOT / "requirements.lock").read_bytes()).hexdigest()


def _postgres_user_can_reach(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)]).returncode == 0


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def reap(pid: int) -> None:
    """Collect the exit status of a process this one started, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def isolated(hostname: str) -> list[str]:
    """A command prefix that runs a process as on a machine of its own (Celery workers): host name
    `hostname`, a fresh tmpfs as /tmp and working folder, the project's include/ read-only, and its own
    PID namespace, whose first process takes every other one with it when it is killed."""
    root, include = shlex.quote(str(ROOT)), shlex.quote(str(ROOT / "include"))
    # a project under /tmp (a CI checkout) stays where it is: kept aside on /mnt, put back on the new /tmp
    keep = ROOT.is_relative_to("/tmp")
    setup = " && ".join([
        *([f"mount --rbind {root} /mnt"] if keep else []),
        "mount -t tmpfs -o mode=1777 scratch /tmp",
        *([f"mkdir -p {root}", f"mount --rbind /mnt {root}"] if keep else []),
        "mkdir /tmp/work", "cd /tmp/work",
        f"mount --bind {include} {include}", f"mount -o remount,bind,ro {include}",
        f"hostname {shlex.quote(hostname)}", 'exec "$@"'])
    return ["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "sh", "-c", setup, hostname]


def _redis_ok(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_for(check, timeout: float, what: str, log_file: Path | None = None, every: float = 1.0):
    """Call `check` until it returns something true. An Airflow API that does not answer, or answers
    with a server error (the webserver restarting, its database restarting), counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            result = None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            result = None
        if result:
            return result
        time.sleep(every)
    tail = log_file.read_text(errors="replace")[-3000:] if log_file and log_file.exists() else ""
    raise StackError(f"{what} not ready after {timeout:.0f}s" + (f"; end of {log_file}:\n{tail}" if tail else ""))


# --- the pipeline, end to end ---------------------------------------------------------------------

def last_complete_day(now: dt.datetime) -> dt.datetime:
    """The logical date of the newest whole day UTC before `now` (what a @daily DAG switched on runs)."""
    return dt.datetime.combine(now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1), dt.time(),
                               tzinfo=dt.timezone.utc)


def run_pipeline(stack: Stack, data_dir: Path | None = None, timeout: float = 900,
                 summary_path: Path = ROOT / "include" / "results" / "summary.json",
                 before_ingest=None, after=None, switch_on=None, clock=lambda: dt.datetime.now(dt.timezone.utc)) -> dict:
    """What a user does after `astro dev start`: switch the DAGs on and wait for finance_ml's dataset run,
    for one day chosen once (the last complete day UTC by `clock`): in_finance_data and finance_elt are
    triggered for it before they are switched on, so a run that crosses midnight neither waits for
    another day's files nor reports another day's runs (the scheduler may add the next day's).

    Starts the stack with fresh Airflow metadata (so every run starts from the same place), stops it
    again whatever happens, writes include/results/summary.json and returns the summary.
    `before_ingest(stack)`, if given, runs after finance_elt is unpaused (its sensors waiting) and
    before in_finance_data is: the place to inject a fault. `after(stack, runs)` runs once the
    pipeline succeeded, before the stack stops. `switch_on(stack, dag_id)`, if given, unpauses a DAG
    instead of the REST API (the browser test clicks the DAG's switch in the UI).
    """
    if data_dir is not None:
        if not data_dir.is_dir():
            raise StackError(f"DATA={data_dir} is not a folder (expected charge/*.csv and satisfaction/*.csv"
                             " in it, or *.csv.gz)")
        stack.extra_env["INPUT_DATA_DIR"] = str(data_dir)
    stack.up(fresh_metadata=True)
    try:
        wait_for(lambda: _dags_loaded(stack), 180, "the three DAGs in the scheduler", stack.log_dir / "scheduler.log")
        day = last_complete_day(clock())
        for dag_id in reversed(DAG_IDS):  # the consumer first, so no dataset event finds it paused
            if dag_id == "in_finance_data" and before_ingest is not None:
                wait_for(lambda: "deferred" in task_states(stack, "finance_elt", "wait_for_ingest.wait_for_ingest_charge"),
                         120, "finance_elt's sensors to defer")
                before_ingest(stack)
            if dag_id != "finance_ml":  # finance_ml runs when finance_elt updates the dataset
                trigger(stack, dag_id, day)
            (switch_on or unpause)(stack, dag_id)
        log(f"switched on {', '.join(DAG_IDS)} for {day:%Y-%m-%d}; waiting for the dataset-triggered finance_ml run")
        runs = wait_for(lambda: _finished_runs(stack, day), timeout, "the pipeline")
        summary = _summary(stack, runs, summary_path.parent / "plots")
        if after is not None:
            after(stack, runs)
    finally:
        stack.down()
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, summary_path)
    return summary


def unpause(stack: Stack, dag_id: str) -> None:
    stack.api("PATCH", f"dags/{dag_id}?update_mask=is_paused", {"is_paused": False})


def trigger(stack: Stack, dag_id: str, day: dt.datetime) -> dict:
    """A run of a @daily DAG for `day`, with the data interval its scheduled run would have: switched on,
    the scheduler finds that day's run there and does not add one. Returns the run (REST API)."""
    return stack.api("POST", f"dags/{dag_id}/dagRuns", {
        "logical_date": day.isoformat(),
        "data_interval_start": day.isoformat(), "data_interval_end": (day + dt.timedelta(days=1)).isoformat()})


def _dags_loaded(stack: Stack) -> bool:
    errors = stack.api("GET", "importErrors").get("import_errors", [])
    if errors:
        raise StackError("DAG import errors:\n" + "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors))
    known = {d["dag_id"] for d in stack.api("GET", "dags?limit=100").get("dags", [])}
    return set(DAG_IDS) <= known


def task_states(stack: Stack, dag_id: str, task_id: str) -> list[str | None]:
    """States of a task in the DAG's newest run (one per map index); empty before the first run."""
    runs = stack.api("GET", f"dags/{dag_id}/dagRuns?order_by=-execution_date&limit=1").get("dag_runs", [])
    if not runs:
        return []
    tis = stack.api("GET", f"dags/{dag_id}/dagRuns/{runs[0]['dag_run_id']}/taskInstances?limit=500")
    return [ti["state"] for ti in tis["task_instances"] if ti["task_id"] == task_id]


def _finished_runs(stack: Stack, day: dt.datetime) -> dict | None:
    """The runs of `day`, once they succeeded: in_finance_data's and finance_elt's with that logical date,
    and the finance_ml run that finance_elt's dataset event triggered; raises on a failed run."""
    runs = {}
    for dag_id in DAG_IDS[:2]:
        found = [run for run in stack.api("GET", f"dags/{dag_id}/dagRuns?order_by=-execution_date&limit=100")["dag_runs"]
                 if dt.datetime.fromisoformat(run["logical_date"]) == day]
        runs[dag_id] = found[0] if found else None
    elt = runs["finance_elt"]
    runs["finance_ml"] = None
    if elt and elt["state"] == "success":
        for run in stack.api("GET", "dags/finance_ml/dagRuns?order_by=-execution_date&limit=100")["dag_runs"]:
            path = f"dags/finance_ml/dagRuns/{urllib.parse.quote(run['dag_run_id'])}/upstreamDatasetEvents"
            if any(event["source_run_id"] == elt["dag_run_id"] for event in stack.api("GET", path)["dataset_events"]):
                runs["finance_ml"] = run
                break
    for dag_id, run in runs.items():
        if run and run["state"] == "failed":
            raise StackError(f"{dag_id} run {run['dag_run_id']} failed\n" + _failed_task_logs(stack, run))
    return runs if all(run and run["state"] == "success" for run in runs.values()) else None


def _failed_task_logs(stack: Stack, run: dict, lines: int = 40) -> str:
    path = f"dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances?limit=500"
    failed = [ti for ti in stack.api("GET", path)["task_instances"] if ti["state"] == "failed"]
    report = []
    for ti in failed:
        pattern = (f"dag_id={ti['dag_id']}/run_id={run['dag_run_id']}/task_id={ti['task_id']}/**/attempt=*.log")
        logs = sorted(glob.glob(str(stack.airflow_home / "logs" / pattern), recursive=True), key=os.path.getmtime)
        text = Path(logs[-1]).read_text(errors="replace").splitlines() if logs else ["(no log file)"]
        alert = [line[line.index("TASK FAILED"):] for line in text if "TASK FAILED" in line][-1:]  # alerts.py
        tail = "\n".join(alert + ["..."] + text[-lines:] if alert else text[-lines:])
        report.append(f"--- task {ti['task_id']} (map index {ti['map_index']}), {logs[-1] if logs else ''}:\n{tail}")
    return "\n".join(report) or "(no failed task instance found)"


def _summary(stack: Stack, runs: dict, plots_dir: Path) -> dict:
    """What the run produced, read from the database, the bucket and the REST API (never from a worker's
    folder); the run's plots are downloaded from the bucket into `plots_dir`."""
    import psycopg2

    ds = runs["finance_elt"]["logical_date"][:10]
    tables, rejected = {}, {}
    with psycopg2.connect(stack.db_uri("finance")) as conn, conn.cursor() as cur:
        for table in ("in_charge", "in_satisfaction"):  # the day's partition
            cur.execute(f"SELECT count(*) FROM public.{table} WHERE ds = %s", (ds,))
            tables[table] = cur.fetchone()[0]
        for table in ("model_satisfaction", "model_metrics"):
            cur.execute(f"SELECT count(*) FROM public.{table}")
            tables[table] = cur.fetchone()[0]
        cur.execute("SELECT successful_charges, other_currency_charges, implausible_charges, survey_answers,"
                    " orphan_surveys FROM public.model_input_audit WHERE ds = %s", (ds,))
        model_input = dict(zip(("successful_charges", "other_currency_charges", "implausible_charges",
                                "survey_answers", "orphan_surveys"), cur.fetchone()))
        cur.execute("SELECT kind, file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, note"
                    " FROM public.load_audit WHERE ds = %s ORDER BY kind, file", (ds,))
        audit = [dict(zip(("kind", "file", "rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped", "note"),
                          row)) for row in cur.fetchall()]
        for kind in ("charge", "satisfaction"):
            rejected[f"in_{kind}"] = sum(a["rows_rejected"] for a in audit if a["kind"] == kind)
        columns = ("model", "cv_r2", "cv_r2_std", "r2_train", "r2_test", "fit_seconds")
        cur.execute(f"SELECT {', '.join(columns)} FROM public.model_metrics WHERE run_id = %s ORDER BY cv_r2 DESC",
                    (runs["finance_ml"]["dag_run_id"],))
        models = [dict(zip(columns, row)) for row in cur.fetchall()]
    conn.close()
    plots = _download_plots(stack, runs["finance_ml"], plots_dir)
    hosts = Counter(ti["hostname"] or "(none)" for run in runs.values() for ti in stack.api(
        "GET", f"dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances?limit=500")["task_instances"])

    def seconds(run: dict) -> float:
        return round((dt.datetime.fromisoformat(run["end_date"]) - dt.datetime.fromisoformat(run["start_date"]))
                     .total_seconds(), 1)

    return {
        "tables": tables,
        "rejected": rejected,
        "audit": audit,
        "model_input": model_input,
        "objects": _object_counts(stack),
        "models": models,
        "model_card": _model_card(stack, runs["finance_ml"]),
        "plots": sorted(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in plots),
        "executor": stack.executor,
        "task_hosts": dict(sorted(hosts.items())),
        "durations": {dag_id: seconds(run) for dag_id, run in runs.items()},
        "runs": {dag_id: {k: run[k] for k in ("dag_run_id", "run_type", "state", "logical_date")}
                 for dag_id, run in runs.items()},
    }


def s3_client(stack: Stack):
    import boto3

    aws = json.loads(stack.env()["AIRFLOW_CONN_AWS_DEFAULT"])
    return boto3.client("s3", endpoint_url=aws["extra"]["endpoint_url"], region_name="us-east-1",
                        aws_access_key_id=aws["login"], aws_secret_access_key=aws["password"])


def data_bucket(stack: Stack) -> str:
    return stack.env().get("DATA_BUCKET_NAME", "finance-elt-ml-data")


def ml_artifacts_prefix(stack: Stack, ml_run: dict) -> str:
    """Where a finance_ml run (from the REST API) uploaded its model, card and plots: ml-runs/<ts_nodash>/."""
    ts_nodash = dt.datetime.fromisoformat(ml_run["logical_date"]).strftime("%Y%m%dT%H%M%S")
    return f"{stack.env().get('ML_ARTIFACTS_PREFIX', 'ml-runs')}/{ts_nodash}/"


def _model_card(stack: Stack, ml_run: dict) -> dict:
    """The model card finance_ml's run uploaded next to its best model."""
    key = ml_artifacts_prefix(stack, ml_run) + "model_card.json"
    return json.loads(s3_client(stack).get_object(Bucket=data_bucket(stack), Key=key)["Body"].read())


def _download_plots(stack: Stack, ml_run: dict, folder: Path) -> list[Path]:
    """The PNGs finance_ml's run uploaded, downloaded into `folder` (emptied first)."""
    client, bucket, prefix = s3_client(stack), data_bucket(stack), ml_artifacts_prefix(stack, ml_run) + "plots/"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        paths.append(folder / item["Key"][len(prefix):])
        client.download_file(bucket, item["Key"], str(paths[-1]))
    return paths


def _object_counts(stack: Stack) -> dict[str, int]:
    """Objects in the data bucket per folder (`charge/dt=2026-11-20`, `ml-runs/20261121T...`, `xcom`)."""
    counts: dict[str, int] = {}
    client, bucket = s3_client(stack), data_bucket(stack)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            folder = "/".join(item["Key"].split("/")[:-1][:2])  # at most two levels: ml-runs/<run>
            counts[folder] = counts.get(folder, 0) + 1
    return dict(sorted(counts.items()))


def _print_summary(summary: dict, path: Path) -> None:
    print("\nPipeline finished.", flush=True)
    print("  rows: " + ", ".join(f"{t}={n}" for t, n in summary["tables"].items()))
    print("  rejected rows (see table load_rejects): " + ", ".join(f"{t}={n}" for t, n in summary["rejected"].items()))
    print("  DAG seconds: " + ", ".join(f"{d}={s}" for d, s in summary["durations"].items()))
    print(f"  executor: {summary['executor']}; task instances per host: "
          + ", ".join(f"{h}={n}" for h, n in summary["task_hosts"].items()))
    print("  " + model_table(summary["models"]).replace("\n", "\n  "))
    card = summary["model_card"]
    print(f"  best model {card['model']} (cv_r2 {card['metrics']['cv_r2']:.4f}): {card['artifacts']['model']}")
    left = summary["model_input"]
    print(f"  left out of model_satisfaction (see table model_input_audit): {left['other_currency_charges']} charges"
          f" in other currencies, {left['implausible_charges']} implausible amounts; {left['orphan_surveys']} survey"
          " answers without charges")
    print(f"  rows left out of training (no survey answers): {card['rows']['without_survey']}")
    print(f"  plots: {', '.join(summary['plots'])}")
    print(f"  summary: {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "reset", "run"))
    parser.add_argument("--data", help="folder with charge/*.csv and satisfaction/*.csv (or *.csv.gz) to use instead of mock data")
    parser.add_argument("--executor", choices=EXECUTORS, default=os.environ.get("EXECUTOR") or "local",
                        help="local: LocalExecutor (default); celery: CeleryExecutor, Redis and two isolated workers")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("RUN_TIMEOUT", "900")),
                        help="seconds `run` waits for the pipeline (default 900)")
    args = parser.parse_args(argv)
    stack = Stack(executor=args.executor)
    try:
        if args.command == "up":
            stack.up()
            log(f"running: open {stack.web_url}, log in as {UI_USER} / {UI_PASSWORD}, switch on finance_ml, finance_elt, "
                "in_finance_data (README: the first ten minutes); `make down` stops it all and keeps the data")
        elif args.command == "down":
            stack.down()
        elif args.command == "reset":
            stack.reset()
        else:
            run_pipeline(stack, data_dir=Path(args.data).resolve() if args.data else None, timeout=args.timeout)
    except StackError as error:
        print(f"[stack] FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
