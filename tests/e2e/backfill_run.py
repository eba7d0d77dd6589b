"""`make run DAYS=4` with a planted shift, from an empty registry, as the backfill tests read it: the days run one
by one, the MLflow server down while the last day's model registers, and a worse model trained on the last day."""

import datetime as dt
import threading
import time

from scripts.stack import run_pipeline
from scripts.stack.pipeline import forget_models, run_days
from tests.e2e.faults import Poll, dag_run, finished_state, one_value

BACKFILL_DAYS = 4
SHIFTED_FROM = 3  # the first shifted day of the backfill (1-based)
# Gains of a day's model over the champion on unshifted or on shifted days alike are noise (below 0.01 in
# every run measured); the shift's gain is about 0.18: with this margin the decision of each day is the same
# on every date the test runs (the data of each day depends on its date).
BACKFILL_MARGIN = "0.02"


MLFLOW_OUTAGE_SECONDS = 15  # longer than a try of a task that logs (MLflow's client gives up after about 11 s); with the
# server's start (17 s on a quiet machine) shorter than the 41 s between a task's first and second try


def mlflow_outage_while_registering(stack, done: threading.Event, outage: dict) -> None:
    """Once the last day's finance_ml run's `choose_champion` runs (it registers the day's model version in MLflow),
    stop the MLflow server for MLFLOW_OUTAGE_SECONDS, then start it again. Records when, and the server's PIDs.
    The last day's run: the newest of BACKFILL_DAYS finance_ml runs (the next day's run exists while a day's still
    trains, `DayWatch`)."""
    with Poll(stack, "airflow") as airflow:
        while not done.is_set():
            running = airflow.value(
                "SELECT run_id FROM task_instance WHERE dag_id = 'finance_ml' AND task_id = 'choose_champion' AND"
                f" state = 'running' AND (SELECT count(*) FROM dag_run WHERE dag_id = 'finance_ml') = {BACKFILL_DAYS}"
                " AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = 'finance_ml' ORDER BY id DESC LIMIT 1)")
            if running:
                break
            time.sleep(0.2)
        else:
            return
    outage.update(run_id=running, pid_before=stack.pids()["mlflow"], **{"from": dt.datetime.now(dt.timezone.utc)})
    stack._stop("mlflow")
    time.sleep(MLFLOW_OUTAGE_SECONDS)
    outage["to"] = dt.datetime.now(dt.timezone.utc)
    stack.start_mlflow()
    outage["pid_after"] = stack.pids()["mlflow"]


def choose_champion_tries(stack, run_id: str) -> list[dict]:
    """Every try of `choose_champion` in finance_ml run `run_id` (Airflow's metadata), with its log."""
    import psycopg2

    columns = ("try_number", "state", "start_date", "end_date")
    tries = []
    with psycopg2.connect(stack.db_uri("airflow")) as conn, conn.cursor() as cur:
        for table in ("task_instance_history", "task_instance"):
            cur.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE dag_id = 'finance_ml' AND"
                        " task_id = 'choose_champion' AND run_id = %s", (run_id,))
            tries += [dict(zip(columns, row)) for row in cur.fetchall()]
    conn.close()
    for t in tries:
        log = (stack.airflow_home / "logs" / "dag_id=finance_ml" / f"run_id={run_id}" / "task_id=choose_champion"
               / f"attempt={t['try_number']}.log")
        t["log"] = log.read_text() if log.exists() else ""
    return sorted(tries, key=lambda t: t["try_number"])


def run_backfill(stack) -> dict:
    """`make run DAYS=4` with MOCK_DATA_SHIFT_FROM on the third day, from an empty registry (as a new
    deployment starts): the model registry, the predictions and the monitoring day by day. The MLflow server
    is down for a while as the last day's model is registered; then the last day is trained again with a worse
    model."""
    now = dt.datetime.now(dt.timezone.utc)  # the days are chosen once
    days = [day.date().isoformat() for day in run_days(now, BACKFILL_DAYS)]
    forget_models(stack)
    env = {"MOCK_DATA_SHIFT_FROM": days[SHIFTED_FROM - 1], "PROMOTION_MARGIN": BACKFILL_MARGIN}
    stack.extra_env.update(env)
    outage, recorded, done = {}, {}, threading.Event()
    fault = threading.Thread(target=mlflow_outage_while_registering, args=(stack, done, outage), daemon=True)
    fault.start()

    def after(stack, runs):  # the stack still up: the tries the outage hit, then the last day with a worse model
        if outage.get("run_id"):
            recorded["choose_champion"] = choose_champion_tries(stack, outage["run_id"])
        recorded["worse"] = retrain_with(stack, days[-1], {"ML_MODELS": WORSE_MODEL})

    try:
        summary = run_pipeline(stack, timeout=1500, days=BACKFILL_DAYS, clock=lambda: now, after=after,
                               summary_path=stack.state_dir / "backfill" / "summary.json")
    finally:
        done.set()
        fault.join()
        for name in env:
            stack.extra_env.pop(name)
    logs = {}
    for ds, run_id in summary["ml_runs"].items():
        log = (stack.airflow_home / "logs" / "dag_id=finance_ml" / f"run_id={run_id}" / "task_id=monitor_model"
               / "attempt=1.log")
        logs[ds] = log.read_text()
    return {"days": days, "summary": summary, "monitor_logs": logs, "shifted_from": SHIFTED_FROM,
            "margin": float(BACKFILL_MARGIN), "mlflow_outage": outage, "mlflow_port": stack.mlflow_port, **recorded}


# A model far below the others on this data (cross-validated R2 about 0.66 against 0.73 on a shifted day)
WORSE_MODEL = "RandomForest"


def retrain_with(stack, ds: str, env: dict) -> dict:
    """A manual finance_ml run for day `ds` (conf {"ds": ...}) with `env` set, on the backfill's running stack:
    Airflow's processes start again with it (ML_MODELS is the training's mapping: the DAG file is parsed again,
    and the run waits for finance_ml's new serialized DAG), the metadata, PostgreSQL, S3 and MLflow stay. Its
    registry entry (MLflow's), the registered model's aliases, and the day's predictions by model version, read
    after it succeeded."""
    import psycopg2

    from include.finance.production import registry
    from scripts.stack import AIRFLOW_PROCESSES, wait_for
    from scripts.stack.api import trigger_with_conf
    from scripts.stack.summary import ml_version

    parsed = "SELECT dag_hash FROM serialized_dag WHERE dag_id = 'finance_ml' ORDER BY last_updated DESC LIMIT 1"
    before = one_value(stack, "airflow", parsed)
    stack.extra_env.update(env)
    try:
        stack._stop(*AIRFLOW_PROCESSES)
        stack.start_airflow(migrate=False)
        wait_for(lambda: one_value(stack, "airflow", parsed) not in (None, before), 180,
                 f"finance_ml parsed again with {env}", stack.log_dir / "scheduler.log")
        run = trigger_with_conf(stack, "finance_ml", {"ds": ds})
        state = wait_for(lambda: finished_state(stack, "finance_ml", run["dag_run_id"]), 600, "the manual finance_ml run",
                         every=2)
        client = stack.mlflow_client()
        entry = registry.of_run(client, ml_version(dag_run(stack, "finance_ml", run["dag_run_id"])))
        aliases = dict(client.get_registered_model(registry.settings.mlflow_registered_model).aliases)
        with psycopg2.connect(stack.db_uri("finance")) as conn, conn.cursor() as cur:
            cur.execute("SELECT model_version, count(*) FROM public.customer_predictions WHERE ds = %s"
                        " GROUP BY model_version", (ds,))
            predictions = dict(cur.fetchall())
        conn.close()
    finally:
        for name in env:
            stack.extra_env.pop(name)
    return {"state": state, "entry": entry, "aliases": aliases, "predictions": predictions}
