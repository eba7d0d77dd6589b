"""The results dashboard of the local stack: `streamlit run dashboard/app.py` from its own venv (.venv-dashboard,
requirements-dashboard.lock), kept running by scripts/supervise.py like the other services.

It logs in to the pipeline's database as `dashboard`, a member of the read-only role DB_READER_ROLE (which
finance_elt's create_tables lets read the schema), and to Airflow's REST API as `dashboard`, a Viewer (Airflow 3:
viewer), each with a password made per state folder (<state>/dashboard_db_password, dashboard_airflow_password,
mode 0600) and given to it in its environment: never on a command line, in a log or on a page.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from include.finance import schema

from .common import AIRFLOW_3, DASHBOARD_USER, PROJECT_ROOT, StackError, http_ok, local_secret, log, settings, wait_for

DASHBOARD_VENV = PROJECT_ROOT / ".venv-dashboard"


def dashboard_unavailable() -> str | None:
    """Why the dashboard cannot start here (None if it can)."""
    if not (DASHBOARD_VENV / "bin" / "streamlit").exists():
        return (f"the dashboard's venv {DASHBOARD_VENV.name} is missing: make venv builds it from"
                " requirements-dashboard.lock")
    return None


def dashboard_command(port: int) -> list[str]:
    """`streamlit run dashboard/app.py` from its venv on 127.0.0.1:`port`: no browser opened, no usage statistics,
    no traceback on a page, no file watcher."""
    return [str(DASHBOARD_VENV / "bin" / "python"), "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "none",
            "--client.toolbarMode", "minimal", "--server.fileWatcherType", "none"]


class Dashboard:
    """The dashboard's part of `Stack` (which gives `state_dir`, `dashboard_port`, the database and process helpers)."""

    state_dir: Path
    dashboard_port: int

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def dashboard_password(self) -> str:
        """Its database login's password: made once per state folder (0600)."""
        return local_secret(self.state_dir / "dashboard_db_password")

    @property
    def dashboard_airflow_password(self) -> str:
        """Its read-only Airflow user's password (role Viewer; Airflow 3: viewer): made once per state folder (0600)."""
        return local_secret(self.state_dir / "dashboard_airflow_password")

    def ensure_dashboard_login(self) -> None:
        """The login `dashboard`, a member of the read-only role (made here where finance_elt has not made it yet),
        with this state folder's password."""
        conn = self._connect_admin()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                schema.ensure_reader_login(cur, DASHBOARD_USER, self.dashboard_password, settings.db_reader_role)
        finally:
            conn.close()

    def dashboard_env(self) -> dict[str, str]:
        """The app's settings: the database as its read-only login, the links to Airflow's and MLflow's pages."""
        run_page = "dags/{dag_id}/runs/{run_id}" if AIRFLOW_3 else "dags/{dag_id}/grid?dag_run_id={run_id}"
        return {**os.environ, "ENVIRONMENT": "local", "PYTHONPATH": str(PROJECT_ROOT),
                "DASHBOARD_DB_HOST": settings.db_host, "DASHBOARD_DB_PORT": str(self.pg_port),
                "DASHBOARD_DB_NAME": settings.db_name, "DASHBOARD_DB_USER": DASHBOARD_USER,
                "DASHBOARD_DB_PASSWORD": self.dashboard_password,
                "DASHBOARD_AIRFLOW_RUN_URL": f"{self.web_url}/{run_page}", "DASHBOARD_MLFLOW_URL": self.mlflow_url,
                "DASHBOARD_AIRFLOW_URL": self.web_url, "DASHBOARD_AIRFLOW_VERSION": "3" if AIRFLOW_3 else "2",
                "DASHBOARD_AIRFLOW_USER": DASHBOARD_USER, "DASHBOARD_AIRFLOW_PASSWORD": self.dashboard_airflow_password}

    def start_dashboard(self) -> None:
        reason = dashboard_unavailable()
        if reason:
            raise StackError(reason)
        self.ensure_dashboard_login()
        self._spawn("dashboard", [sys.executable, str(PROJECT_ROOT / "scripts" / "supervise.py"), "--",
                                  *dashboard_command(self.dashboard_port)],
                    env=self.dashboard_env(), port=self.dashboard_port)
        wait_for(lambda: http_ok(f"{self.dashboard_url}/_stcore/health"), 120, "the dashboard",
                 self.log_dir / "dashboard.log")
        log(f"dashboard on {self.dashboard_url}")
