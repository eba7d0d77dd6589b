"""What the stack asks of Airflow's REST API as its admin user (`include/finance/airflow_api.py`'s client: on
Airflow 2 /api/v1 with the web server's session, on Airflow 3 /api/v2 with a token). The few names that differ
between the two are below."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse

from .common import AIRFLOW_3

PAGE = 100  # Airflow's largest page ([api] maximum_page_limit)
# a run's day is its logical date on Airflow 3, its execution date on Airflow 2 (the REST API's filters); the
# newest run first: by when it was due on Airflow 3 (a run an asset event started has no logical date)
LOGICAL_DATE = "logical_date" if AIRFLOW_3 else "execution_date"
NEWEST_FIRST = "-run_after" if AIRFLOW_3 else "-execution_date"
# the dataset (asset) events that triggered a run: its endpoint, and the list in its answer
UPSTREAM_EVENTS = ("upstreamAssetEvents", "asset_events") if AIRFLOW_3 else ("upstreamDatasetEvents", "dataset_events")

def quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


def unpause(stack, dag_id: str) -> None:
    stack.api("PATCH", f"dags/{dag_id}?update_mask=is_paused", {"is_paused": False})


def trigger(stack, dag_id: str, day: dt.datetime) -> dict:
    """A run of a @daily DAG for `day`, with the data interval its scheduled run would have: switched on,
    the scheduler finds that day's run there and does not add one. Returns the run (REST API)."""
    return stack.api("POST", f"dags/{dag_id}/dagRuns", {
        "logical_date": day.isoformat(),
        "data_interval_start": day.isoformat(), "data_interval_end": (day + dt.timedelta(days=1)).isoformat()})


def trigger_with_conf(stack, dag_id: str, conf: dict) -> dict:
    """A manual run with `conf`, due now (Airflow 3 asks for its logical date: none, as Airflow 2 gives it now)."""
    return stack.api("POST", f"dags/{dag_id}/dagRuns", {"conf": conf, **({"logical_date": None} if AIRFLOW_3 else {})})


def run_task_instances(stack, run: dict) -> list[dict]:
    """The task instances of one run (REST API), one per map index."""
    return task_instances(stack.api, (run["dag_id"],), run_ids=(run["dag_run_id"],))


def task_instances(api, dag_ids: tuple[str, ...], run_ids: tuple[str, ...] = ()) -> list[dict]:
    """Every task instance of every run of the DAGs (or of the runs named), page by page (the batch endpoint)."""
    query = {"dag_ids": list(dag_ids), **({"dag_run_ids": list(run_ids)} if run_ids else {})}
    found: list[dict] = []
    while True:
        page = api("POST", "dags/~/dagRuns/~/taskInstances/list",
                   {**query, "page_offset": len(found), "page_limit": PAGE})["task_instances"]
        found += page
        if len(page) < PAGE:
            return found


def task_states(stack, dag_id: str, task_id: str) -> list[str | None]:
    """States of a task in the DAG's newest run (one per map index); empty before the first run."""
    runs = stack.api("GET", f"dags/{dag_id}/dagRuns?order_by={NEWEST_FIRST}&limit=1").get("dag_runs", [])
    if not runs:
        return []
    return [ti["state"] for ti in run_task_instances(stack, runs[0]) if ti["task_id"] == task_id]


class TaskWatch:
    """Prints a line for each state a task instance takes, as `poll` sees it: seconds since the watch
    started, DAG id, task id (with [map index] when mapped) and the new state."""

    def __init__(self, api, dag_ids: tuple[str, ...], clock=time.monotonic, out=None):
        self.api, self.dag_ids, self.clock = api, dag_ids, clock
        self.out = out or (lambda line: print(line, flush=True))
        self.started = clock()
        self.states: dict[tuple, str] = {}

    def poll(self) -> None:
        seconds = self.clock() - self.started
        for ti in sorted(task_instances(self.api, self.dag_ids), key=lambda t: (t["dag_id"], t["task_id"], t["map_index"])):
            key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"])
            if ti["state"] and self.states.get(key) != ti["state"]:
                mapped = f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""
                self.out(f"{seconds:7.1f}s  {ti['dag_id']} {ti['task_id']}{mapped} {ti['state']}")
            self.states[key] = ti["state"]
