"""The pipeline end to end on the stack, as a user runs it after `astro dev start` (`make run`)."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
from pathlib import Path

from .api import LOGICAL_DATE, NEWEST_FIRST, UPSTREAM_EVENTS, TaskWatch, quote, run_task_instances, task_states, trigger, unpause
from .common import AIRFLOW_3, DAG_IDS, PROJECT_ROOT, StackError, log, settings, wait_for
from .mlflow import MLFLOW_DB
from .summary import print_summary
from .summary import summary as run_summary

SUMMARY = PROJECT_ROOT / "include" / "results" / "summary.json"


def last_complete_day(now: dt.datetime) -> dt.datetime:
    """The logical date of the newest whole day UTC before `now` (what a @daily DAG switched on runs)."""
    return dt.datetime.combine(now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1), dt.time(),
                               tzinfo=dt.timezone.utc)


def run_days(now: dt.datetime, days: int) -> list[dt.datetime]:
    """The logical dates of the last `days` complete days UTC before `now`, oldest first."""
    if days < 1:
        raise StackError(f"DAYS must be at least 1, got {days}")
    last = last_complete_day(now)
    return [last - dt.timedelta(days=n) for n in reversed(range(days))]


def run_pipeline(stack, data_dir: Path | None = None, timeout: float = 900, summary_path: Path = SUMMARY,
                 before_ingest=None, after=None, switch_on=None, clock=lambda: dt.datetime.now(dt.timezone.utc),
                 days: int = 1) -> dict:
    """Switch the DAGs on and wait for finance_ml's dataset runs, for the last `days` complete days UTC
    (by `clock`, chosen once; `days` > 1 is a backfill): in_finance_data and finance_elt are triggered
    for each before they are switched on, so the scheduler adds no run of its own and a run that crosses
    midnight neither waits for another day's files nor reports another day's runs. They run a day at a
    time, oldest first (one active run per DAG), and each finance_elt run's dataset event triggers the
    finance_ml run of its day; the next day's finance_elt waits until that run exists (`DayWatch`). Prints each task's
    state changes while it waits.

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
    else:  # a folder an earlier run of this stack was given is not this run's: in_finance_data generates the days
        stack.extra_env.pop("INPUT_DATA_DIR", None)
    stack.up(fresh_metadata=True)
    try:
        wait_for(lambda: dags_loaded(stack), 180, "the three DAGs in the scheduler", stack.log_dir / "scheduler.log")
        dates = run_days(clock(), days)
        watch = TaskWatch(stack.api, DAG_IDS)
        for dag_id in reversed(DAG_IDS):  # the consumer first, so no dataset event finds it paused
            if dag_id == "in_finance_data" and before_ingest is not None:
                wait_for(lambda: "deferred" in task_states(stack, "finance_elt", "wait_for_ingest.wait_for_ingest_charge"),
                         120, "finance_elt's sensors to defer")
                before_ingest(stack)
            if dag_id != "finance_ml":  # finance_ml runs when finance_elt updates the dataset
                for day in dates:
                    trigger(stack, dag_id, day)
            (switch_on or unpause)(stack, dag_id)
        log(f"switched on {', '.join(DAG_IDS)} for {', '.join(f'{d:%Y-%m-%d}' for d in dates)}; waiting for the"
            " dataset-triggered finance_ml runs")
        days = DayWatch(stack, dates)
        each_day = wait_for(lambda: watch.poll() or days.poll(), timeout, "the pipeline", every=2)
        runs = each_day[-1]
        summary = run_summary(stack, runs, summary_path.parent / "plots", each_day)
        if after is not None:
            after(stack, runs)
    finally:
        stack.down()
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, summary_path)
    log(f"to look at the results: `make up{' AIRFLOW=3' if AIRFLOW_3 else ''}`, then open the dashboard on"
        f" {stack.dashboard_url} (and Airflow on {stack.web_url}, MLflow on {stack.mlflow_url})")
    return summary


def dags_loaded(stack) -> bool:
    errors = stack.api("GET", "importErrors").get("import_errors", [])
    if errors:
        raise StackError("DAG import errors:\n" + "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors))
    known = {d["dag_id"] for d in stack.api("GET", "dags?limit=100").get("dags", [])}
    return set(DAG_IDS) <= known


def forget_models(stack) -> None:
    """Drop MLflow's store (experiments, runs, the registered model and its versions), the monitoring and the
    predictions (they are made again where missing): the next run starts with no champion, as a new deployment
    does. Starts the stack's PostgreSQL if it is not running (`run_pipeline` stops it); the MLflow server must
    not be running (it makes its store again when it starts)."""
    import psycopg2
    from include.finance import sql

    from include.finance.schema import CUSTOMER_PREDICTIONS, MODEL_MONITORING

    stack.start_postgres()
    stack.drop_database(MLFLOW_DB)
    with psycopg2.connect(stack.db_uri(settings.db_name)) as conn, conn.cursor() as cur:
        for table in (MODEL_MONITORING, CUSTOMER_PREDICTIONS):
            cur.execute(sql.compose("stack/drop_table_cascade.sql", table=(settings.db_schema, table)))
    conn.close()


class DayWatch:
    """Each day's runs as the pipeline waits for them, asking the REST API only what can still change: a day whose
    runs all succeeded, and which finance_elt run triggered a finance_ml run, are asked once. Every request costs the
    web server CPU (on Airflow 2 with basic auth a password check, about 0.1 s), and asking again every 2 s for
    what is settled took a core of a two-core machine while a backfill ran.

    It also keeps a backfill's days apart: finance_elt is paused from when a day's run has emitted its dataset
    event until a finance_ml run of that day exists. Otherwise the next day's event could come before it (a
    finance_ml run still running: one active run per DAG), and one run would take both days' events (it works on
    the latest day, `artifacts.day_of`). A paused DAG's run schedules no further task: the next day waits where
    it is. Once the day's finance_ml run exists, the next day's finance_elt runs while it trains."""

    def __init__(self, stack, dates: list[dt.datetime]):
        self.stack, self.dates = stack, dates
        self.done: dict[dt.datetime, dict] = {}  # day -> its runs, once they all succeeded
        self.sources: dict[str, set[str]] = {}  # finance_ml run -> the runs whose dataset events triggered it
        self.held = False

    def poll(self) -> list[dict] | None:
        """Each day's runs (`day_runs`), once every day's have succeeded; raises on a failed run."""
        hold = False
        for day in self.dates:
            if day in self.done:
                continue
            runs = day_runs(self.stack, day, self.sources)
            if all(run and run["state"] == "success" for run in runs.values()):
                self.done[day] = runs
                continue
            elt = runs["finance_elt"]
            if elt is None or elt["state"] != "success":  # the later days' finance_elt runs come after this one
                break
            if runs["finance_ml"] is None:  # its event is out, no finance_ml run has taken it yet
                hold = True
                break
        # switched on again once every day is done, for whatever the scenarios and reruns after this need
        self.hold(hold)
        return [self.done[day] for day in self.dates] if len(self.done) == len(self.dates) else None

    def hold(self, hold: bool) -> None:
        if hold != self.held:
            self.stack.api("PATCH", "dags/finance_elt?update_mask=is_paused", {"is_paused": hold})
            self.held = hold


def day_runs(stack, day: dt.datetime, sources: dict[str, set[str]]) -> dict:
    """The runs of `day`: in_finance_data's and finance_elt's with that logical date, and the finance_ml run that
    finance_elt's dataset event triggered (None where there is none yet); raises on a failed run. `sources`
    keeps the triggering runs of each finance_ml run seen (they do not change)."""
    of_day = stack.api("POST", "dags/~/dagRuns/list", {"dag_ids": list(DAG_IDS[:2]), f"{LOGICAL_DATE}_gte": day.isoformat(),
                                                      f"{LOGICAL_DATE}_lte": day.isoformat()})["dag_runs"]
    runs = {dag_id: next((run for run in of_day if run["dag_id"] == dag_id), None) for dag_id in DAG_IDS[:2]}
    elt = runs["finance_elt"]
    runs["finance_ml"] = None
    if elt and elt["state"] == "success":
        endpoint, events = UPSTREAM_EVENTS
        for run in stack.api("GET", f"dags/finance_ml/dagRuns?order_by={NEWEST_FIRST}&limit=100")["dag_runs"]:
            if run["dag_run_id"] not in sources:
                path = f"dags/finance_ml/dagRuns/{quote(run['dag_run_id'])}/{endpoint}"
                sources[run["dag_run_id"]] = {event["source_run_id"] for event in stack.api("GET", path)[events]}
            if elt["dag_run_id"] in sources[run["dag_run_id"]]:
                runs["finance_ml"] = run
                break
    for dag_id, run in runs.items():
        if run and run["state"] == "failed":
            raise StackError(f"{dag_id} run {run['dag_run_id']} failed\n" + failed_task_logs(stack, run))
    return runs


def failed_task_logs(stack, run: dict, lines: int = 40) -> str:
    report = []
    for ti in [ti for ti in run_task_instances(stack, run) if ti["state"] == "failed"]:
        pattern = f"dag_id={ti['dag_id']}/run_id={run['dag_run_id']}/task_id={ti['task_id']}/**/attempt=*.log"
        logs = sorted(glob.glob(str(stack.airflow_home / "logs" / pattern), recursive=True), key=os.path.getmtime)
        text = Path(logs[-1]).read_text(errors="replace").splitlines() if logs else ["(no log file)"]
        alert = [line[line.index("TASK FAILED"):] for line in text if "TASK FAILED" in line][-1:]  # alerts.py
        tail = "\n".join(alert + ["..."] + text[-lines:] if alert else text[-lines:])
        report.append(f"--- task {ti['task_id']} (map index {ti['map_index']}), {logs[-1] if logs else ''}:\n{tail}")
    return "\n".join(report) or "(no failed task instance found)"
