"""The dashboard's queries: one function per question, each the statement of the same name in
`include/finance/sql/dashboard/` on the day `ds` (an ISO date), run through a read-only connection.
Returns pandas DataFrames (or a dict for one row). No Streamlit here: the tests call these on the real
PostgreSQL."""

from __future__ import annotations

import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import psycopg2

from include.finance import schema, sql
from include.finance.airflow_api import AirflowAPI
from include.finance.config import DAG_IDS

# the tables the statements name, as `{name}`
TABLES = {name: name for name in (schema.LOAD_AUDIT, schema.LOAD_REJECTS, schema.MODEL_INPUT_AUDIT,
                                  schema.MODEL_METRICS, schema.MODEL_MONITORING, schema.MODEL_DECISIONS,
                                  schema.CUSTOMER_PREDICTIONS, schema.PREDICTION_SUMMARY,
                                  schema.MODEL_SATISFACTION)}
HISTORY_DAYS = 30  # the charts' window, ending on the chosen day
SAMPLE_LINES = 50  # rejected lines shown
PREDICTION_ROWS = 5000  # customers shown (and downloaded) at most


class Unreachable(RuntimeError):
    """The database cannot be reached or refused the login: the message names host and port, nothing secret."""


@dataclass(frozen=True)
class Database:
    """Where the dashboard reads: the pipeline's database as the read-only login (DASHBOARD_DB_* variables)."""

    host: str
    port: int
    name: str
    user: str
    password: str
    schema: str

    @classmethod
    def from_env(cls, env=os.environ) -> Database:
        from include.finance.config import settings

        return cls(host=env.get("DASHBOARD_DB_HOST", settings.db_host),
                   port=int(env.get("DASHBOARD_DB_PORT", settings.db_port)),
                   name=env.get("DASHBOARD_DB_NAME", settings.db_name),
                   user=env.get("DASHBOARD_DB_USER", "dashboard"), password=env.get("DASHBOARD_DB_PASSWORD", ""),
                   schema=settings.db_schema)

    def connect(self):
        """A read-only session (autocommit: every query sees the newest committed day)."""
        try:
            conn = psycopg2.connect(host=self.host, port=self.port, dbname=self.name, user=self.user,
                                    password=self.password, connect_timeout=5, application_name="dashboard")
        except psycopg2.OperationalError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise Unreachable(f"the pipeline's database at {self.host}:{self.port} (database {self.name}, user "
                              f"{self.user}) cannot be reached: {reason}") from None
        conn.set_session(readonly=True, autocommit=True)
        return conn


def frame(conn, name: str, schema_name: str, **params) -> pd.DataFrame:
    """The rows of statement `dashboard/<name>.sql` with `params` bound."""
    with conn.cursor() as cur:
        cur.execute(sql.statement(f"dashboard/{name}.sql", schema_name, **TABLES), params)
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def days(conn, schema_name: str) -> list[str]:
    return frame(conn, "days", schema_name)["ds"].tolist()


def load_by_kind(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "load_by_kind", schema_name, ds=ds)


def files(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "files", schema_name, ds=ds)


def day_counts(conn, schema_name: str, ds: str) -> dict:
    return frame(conn, "day_counts", schema_name, ds=ds).iloc[0].to_dict()


def rejects_by_reason(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "rejects_by_reason", schema_name, ds=ds)


def reject_sample(conn, schema_name: str, ds: str, limit: int = SAMPLE_LINES) -> pd.DataFrame:
    return frame(conn, "reject_sample", schema_name, ds=ds, limit=limit)


def input_audit(conn, schema_name: str, ds: str) -> dict | None:
    found = frame(conn, "input_audit", schema_name, ds=ds)
    return None if found.empty else found.iloc[0].to_dict()


def quality_history(conn, schema_name: str, ds: str, days: int = HISTORY_DAYS) -> pd.DataFrame:
    return frame(conn, "quality_history", schema_name, ds=ds, days=days)


def decision(conn, schema_name: str, ds: str) -> dict | None:
    found = frame(conn, "decision", schema_name, ds=ds)
    return None if found.empty else found.iloc[0].to_dict()


def leaderboard(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "leaderboard", schema_name, ds=ds)


def monitoring_history(conn, schema_name: str, ds: str, days: int = HISTORY_DAYS) -> pd.DataFrame:
    return frame(conn, "monitoring_history", schema_name, ds=ds, days=days)


def predictions(conn, schema_name: str, ds: str, search: str = "", product_type: str = "",
                limit: int = PREDICTION_ROWS) -> pd.DataFrame:
    return frame(conn, "predictions", schema_name, ds=ds, search=search.strip(), product_type=product_type,
                 limit=limit)


def prediction_summary(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "prediction_summary", schema_name, ds=ds)


def unpredicted(conn, schema_name: str, ds: str) -> pd.DataFrame:
    return frame(conn, "unpredicted", schema_name, ds=ds)


def airflow_api(env=os.environ) -> AirflowAPI | None:
    """Airflow's REST API as the dashboard's read-only user (DASHBOARD_AIRFLOW_URL, _VERSION, _USER, _PASSWORD), or
    None where it is not configured."""
    url = env.get("DASHBOARD_AIRFLOW_URL", "")
    if not url:
        return None
    return AirflowAPI(url, env.get("DASHBOARD_AIRFLOW_USER", ""), env.get("DASHBOARD_AIRFLOW_PASSWORD", ""),
                      airflow_3=env.get("DASHBOARD_AIRFLOW_VERSION", "2") == "3")


def airflow_runs(api: AirflowAPI, ds: str, finance_ml_run: str | None) -> pd.DataFrame:
    """Each DAG's run for the day as Airflow has it: the newest run of the day's logical date of the daily DAGs,
    and the finance_ml run that decided on the day (`finance_ml_run`, from model_decisions), if any. The DAGs are
    asked at once: each call is a round trip."""
    day = "logical_date" if api.airflow_3 else "execution_date"

    def runs_of(dag_id: str) -> list[dict]:
        if dag_id == "finance_ml":
            run = urllib.parse.quote(finance_ml_run or "", safe="")
            runs = [api("GET", f"dags/{dag_id}/dagRuns/{run}")] if finance_ml_run else []
        else:
            query = urllib.parse.urlencode({f"{day}_gte": f"{ds}T00:00:00+00:00", f"{day}_lte": f"{ds}T23:59:59+00:00",
                                            "order_by": f"-{day}", "limit": 1})
            runs = api("GET", f"dags/{dag_id}/dagRuns?{query}")["dag_runs"]
        return [{"dag_id": dag_id, "run_id": run["dag_run_id"], "state": run["state"]} for run in runs]

    with ThreadPoolExecutor(len(DAG_IDS)) as pool:
        rows = [row for runs in pool.map(runs_of, DAG_IDS) for row in runs]
    return pd.DataFrame(rows, columns=["dag_id", "run_id", "state"])


GATE_STATES = {"success": "passed", "failed": "failed"}  # any other state: the gate has not run (yet)


def airflow_gates(api: AirflowAPI, finance_elt_run: str) -> pd.DataFrame:
    """finance_elt's quality gates in its run (the tasks named check_*, in task groups too) and whether they passed."""
    run = urllib.parse.quote(finance_elt_run, safe="")
    tasks = api("GET", f"dags/finance_elt/dagRuns/{run}/taskInstances?limit=100")["task_instances"]
    results: dict[str, str] = {}
    for task in tasks:  # a mapped gate passed when every copy did
        if task["task_id"].rsplit(".", 1)[-1].startswith("check_"):
            result = GATE_STATES.get(task["state"], f"not run ({task['state'] or 'no state'})")
            results[task["task_id"]] = result if results.get(task["task_id"], "passed") == "passed" else results[task["task_id"]]
    return pd.DataFrame(sorted(results.items()), columns=["gate", "result"])
