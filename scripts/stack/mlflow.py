"""The MLflow tracking server and model registry of the local stack: `mlflow server` from its own venv
(.venv-mlflow, requirements-mlflow.lock: full MLflow does not resolve beside Airflow 2.11's pins), kept
running by scripts/supervise.py like Airflow's processes.

- backend store: the database `mlflow` of the stack's PostgreSQL; the basic-auth app's users: `mlflow_auth`;
- artifacts: the stack's S3 bucket under `mlflow/`, served through the server (`--serve-artifacts`), so the
  tasks need the server's login only, no S3 keys;
- login: MLflow's basic-auth app, user `admin` with a password made per state folder (<state>/mlflow_password,
  mode 0600), given to the server in <state>/mlflow_auth.ini (0600) and to the tasks in the connection
  `mlflow_default` (the environment of Airflow's processes): never on a command line or in a log.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .common import PROJECT_ROOT, StackError, http_ok, local_secret, log, settings, wait_for

MLFLOW_DB, MLFLOW_AUTH_DB = "mlflow", "mlflow_auth"
MLFLOW_USER = "admin"
MLFLOW_ARTIFACTS_PREFIX = "mlflow"  # of the data bucket
MLFLOW_VENV = PROJECT_ROOT / ".venv-mlflow"


def mlflow_unavailable() -> str | None:
    """Why the MLflow server cannot start here (None if it can); tests skip with this reason."""
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        return f"the MLflow server's venv {MLFLOW_VENV.name} is missing: make venv builds it from requirements-mlflow.lock"
    return None


class MLflow:
    """The tracking server's part of `Stack` (which gives `state_dir`, `mlflow_port`, the database, S3 and process
    helpers)."""

    state_dir: Path
    mlflow_port: int

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def mlflow_password(self) -> str:
        """The server's `admin` password: random, made once per state folder in <state>/mlflow_password."""
        return local_secret(self.state_dir / "mlflow_password")

    def mlflow_connection(self) -> dict:
        """The Airflow connection the tasks log to the server with (`include/finance/training/tracking.py`)."""
        return {"conn_type": "http", "host": "127.0.0.1", "port": self.mlflow_port, "schema": "http",
                "login": MLFLOW_USER, "password": self.mlflow_password}

    def mlflow_client(self):
        """MLflow's client on the server, logged in as the tasks are (the scripts' summary and tests read through it)."""
        from include.finance.training.tracking import client_settings
        from mlflow import MlflowClient

        client_settings()
        os.environ.update(MLFLOW_TRACKING_USERNAME=MLFLOW_USER, MLFLOW_TRACKING_PASSWORD=self.mlflow_password)
        return MlflowClient(self.mlflow_url, self.mlflow_url)

    def mlflow_auth_config(self) -> Path:
        """<state>/mlflow_auth.ini (mode 0600), rewritten on each start: the basic-auth app's settings, with the
        admin's password (used when the app creates its users' table) and its database's URI."""
        path = self.state_dir / "mlflow_auth.ini"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".mlflow_auth.ini-")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write("[mlflow]\n"
                      "default_permission = NO_PERMISSIONS\n"  # a user the admin did not grant anything sees nothing
                      f"database_uri = {self.db_uri(MLFLOW_AUTH_DB, 'postgresql+psycopg2')}\n"
                      f"admin_username = {MLFLOW_USER}\n"
                      f"admin_password = {self.mlflow_password}\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                      "grant_default_workspace_access = false\n"
                      # the PBKDF2 check of a login at most once a minute per worker: tasks send many requests
                      "auth_cache_ttl_seconds = 60\n")
        os.replace(draft, path)
        return path

    def mlflow_env(self) -> dict[str, str]:
        """The server's environment: where its login settings are, and the S3 endpoint's keys for the artifacts."""
        aws = self.aws_connection()
        return {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(self.mlflow_auth_config()),
                # signs the UI's CSRF tokens: one per state folder, the same for every worker of the server
                "MLFLOW_FLASK_SERVER_SECRET_KEY": local_secret(self.state_dir / "mlflow_secret_key"),
                "MLFLOW_S3_ENDPOINT_URL": aws["extra"]["endpoint_url"], "AWS_ACCESS_KEY_ID": aws["login"],
                "AWS_SECRET_ACCESS_KEY": aws["password"], "AWS_DEFAULT_REGION": aws["extra"]["region_name"],
                "AWS_EC2_METADATA_DISABLED": "true",
                # no job runner: its dozen consumer processes (about 230 MB each) serve GenAI features we do not use
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

    def start_mlflow(self, wait: bool = True) -> None:
        """Start the server; without `wait`, `wait_for_mlflow` waits for it (`up` starts Airflow meanwhile)."""
        reason = mlflow_unavailable()
        if reason:
            raise StackError(reason)
        for database in (MLFLOW_DB, MLFLOW_AUTH_DB):
            self._ensure_database(database)
        from .s3 import s3_client

        s3_client(self).create_bucket(Bucket=settings.data_bucket_name)  # the artifacts' bucket, before any run
        # the backend store's URI carries the database password: MLflow reads it from the environment
        # (MLFLOW_BACKEND_STORE_URI), not from the command line, which `ps` shows to every user
        env = {**self.mlflow_env(), "MLFLOW_BACKEND_STORE_URI": self.db_uri(MLFLOW_DB, "postgresql+psycopg2")}
        # one uvicorn worker, in the server's own process (its requests in threads): each worker more is a process
        # that imports the server's app, about 3 s of CPU and 280 MB at each start, for a stack that serves one user
        server = [str(MLFLOW_VENV / "bin" / "mlflow"), "server", "--app-name", "basic-auth",
                  "--host", "127.0.0.1", "--port", str(self.mlflow_port), "--workers", "1",
                  "--serve-artifacts",
                  "--artifacts-destination", f"s3://{settings.data_bucket_name}/{MLFLOW_ARTIFACTS_PREFIX}"]
        self._spawn("mlflow", [sys.executable, str(PROJECT_ROOT / "scripts" / "supervise.py"), "--", *server], env=env,
                    port=self.mlflow_port)
        if wait:
            self.wait_for_mlflow()

    def wait_for_mlflow(self) -> None:
        wait_for(lambda: http_ok(f"{self.mlflow_url}/health"), 120, "the MLflow server", self.log_dir / "mlflow.log")
        log(f"MLflow on {self.mlflow_url} (login {MLFLOW_USER} / the password in {self.state_dir / 'mlflow_password'})")
