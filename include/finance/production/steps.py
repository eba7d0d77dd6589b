"""Models in production, finance_ml's steps after training: each function is one task of both editions' DAG
files, which make it a task as it is (its keyword arguments named like the context's keys are Airflow's).

1. `publish_best_model`: the run's best model, its model card and training rows (`artifacts.publish_best_model`).
2. `monitor_model`: the champion serving when the day's data came (the registry's, `registry.incumbent`) is
   measured on it (`monitoring.py`: its R2, each feature's drift against its training rows); alerts
   go through `alerts.notify_model_alert`; the figures are also metrics of the day's MLflow run.
3. `choose_champion`: the run's best model (the candidate) and the champion are scored on the day's
   held-out rows; the candidate replaces the champion only if it is better by `PROMOTION_MARGIN`
   (`registry.py`). The decision is recorded on the version in MLflow's model registry, the aliases
   `champion` and `challenger` moved, and it is printed in the task's log and kept in `model_decisions` (for the
   dashboard, beside the day's other tables).
4. `predict_customers`: the model serving after that decision (`models:/<name>@champion`) scores every
   customer of the day into `customer_predictions` (`predictions.py`), with its version.
5. `plot_monitoring`: the champion's R2 and the features' drift over the days, as
   `plots/monitoring.png` of the run (in the bucket and on the day's MLflow run).

Every model is loaded from MLflow after the SHA-256 of its model.pkl is checked against its version's tag;
no step keeps anything on a worker's disk past the step.
"""

from __future__ import annotations

import json
import logging

import pandas as pd

from include.finance import alerts, schema, sql
from include.finance.config import settings
from include.finance.connections import db_connection
from include.finance.edition import get_current_context
from include.finance.production import monitoring, predictions, registry
from include.finance.run_context import events_by_uri, run_key
from include.finance.training import artifacts, ml, plots, tracking

log = logging.getLogger(__name__)

# model_decisions' columns (sql/tables/model_decisions.sql), each a key of the registry's entry but the last two
DECISION_COLUMNS = ("ds", "run_id", "model", "version", "decision", "reason", "candidate_r2", "champion_r2",
                    "incumbent_version", "serving_version", "mlflow_run_id", "mlflow_experiment_id")


def publish_best_model(features: dict, results: list[dict], day: str, day_run: dict, run_id: str, events) -> dict:
    """`artifacts.publish_best_model`, which a rerun may not use to replace the training rows of a registered
    model; the model card also goes onto the day's MLflow run. `events`: the triggering dataset (asset) events."""
    key = run_key()
    client = tracking.client()
    with tracking.reaching(client):
        registered = registry.of_run(client, key)
    card = artifacts.publish_best_model(features, list(results), run_id, key, day, day_run, events_by_uri(events),
                                        registered_rows_sha256=registered and registered["training_rows_sha256"])
    tracking.log_file(day_run["run_id"], json.dumps(card, indent=2).encode(), "model_card.json")
    return card


def load(client, entry: dict, uri: str | None = None):
    """A registered version's model (by `uri`, else its own models:/ URI), checked against its SHA-256 tag."""
    return tracking.load_model(client, uri or entry["model_uri"], entry["model_sha256"],
                               f"version {entry['version']} of registered model {settings.mlflow_registered_model}")


def monitor_model(features: dict, card: dict, run_id=None) -> list[dict]:
    """The day's model_monitoring rows (none before the first champion), stored, alerted on, and logged as metrics
    of the day's MLflow run."""
    ds = card["data"]["ds"]
    client = tracking.client()
    with tracking.reaching(client):
        champion = registry.incumbent(client, card["version"])
    if champion is None:
        log.info("no champion before run %s: nothing to monitor yet", card["version"])
        rows = []
    else:
        today = pd.concat([features["train"], features["test"]], ignore_index=True)
        training = artifacts.training_rows(champion)  # refused unless its SHA-256 is the registered one
        rows = monitoring.measure(champion, load(client, champion), training, today, settings.drift_psi_threshold,
                                  settings.r2_decay)
    with db_connection() as conn:
        monitoring.store(conn, settings.db_schema, ds, run_id, rows)
    lines = monitoring.alert_lines(ds, rows)
    tracking.log_monitoring(card["mlflow"]["day_run_id"], rows, len(lines))
    for line in lines:
        alerts.notify_model_alert(get_current_context(), line)
    print(f"monitoring {ds}: {len(rows)} measures, {len(lines)} alerts" + "".join(f"\n  {line}" for line in lines))
    return rows


def choose_champion(features: dict, card: dict) -> dict:
    """Register the run's best model (its model card) and decide whether it serves; returns its registry entry."""
    test = features["test"]
    client = tracking.client()

    def score(entry: dict) -> float:
        return registry.score_on(load(client, entry), test[ml.FEATURES], test[ml.TARGET])

    with tracking.reaching(client):
        entry = registry.register(client, registry.candidate_of(card), score, settings.promotion_margin)
    with db_connection() as conn:
        store_decision(conn, settings.db_schema, entry, card["mlflow"]["experiment_id"])
    verdict = "promoted" if registry.serving_after(entry) == entry["version"] else "not promoted"
    print(f"candidate: version {entry['version']} of {settings.mlflow_registered_model} ({entry['model']}, trained on "
          f"{entry['ds']}) {verdict}: {entry['reason']}; aliases now {entry['aliases'] or 'none'}")
    return entry


def store_decision(conn, schema_name: str, entry: dict, experiment_id: str) -> None:
    """The registry's decision on run's version `entry` as the run's row of model_decisions (a retry replaces it)."""
    row = {**entry, "serving_version": registry.serving_after(entry), "mlflow_experiment_id": experiment_id}
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("ml/clear_decision.sql", table=(schema_name, schema.MODEL_DECISIONS)),
                    (row["ds"], row["run_id"]))
        cur.execute(schema.insert_statement(schema_name, schema.MODEL_DECISIONS, DECISION_COLUMNS),
                    [row[column] for column in DECISION_COLUMNS])


def predict_customers(decided: dict) -> dict:
    """Every customer of the decided model's day, scored by the model serving after the decision: the version
    with the alias `champion` (`models:/<name>@champion`); for a rerun of a day decided before a later promotion,
    the version that served that day."""
    client = tracking.client()
    with tracking.reaching(client):
        serving = registry.version(client, registry.serving_after(decided))
        uri = f"models:/{settings.mlflow_registered_model}@{registry.CHAMPION}"
        if registry.CHAMPION not in serving["aliases"]:
            uri = serving["model_uri"]
            log.info("version %s served on %s and has been replaced since: its own model scores the day", serving["version"],
                     decided["ds"])
        model = load(client, serving, uri)
    with db_connection() as conn:
        return {"model_version": serving["version"], "model_uri": uri,
                **predictions.write_predictions(conn, settings.db_schema, decided["ds"], model, serving["version"])}


def plot_monitoring(card: dict) -> str:
    with db_connection() as conn:
        rows = monitoring.history(conn, settings.db_schema, card["data"]["ds"])
    png = plots.save(plots.monitoring_history(rows))
    tracking.log_file(card["mlflow"]["day_run_id"], png, "monitoring.png", "plots")
    return artifacts.upload(png, f"{artifacts.run_prefix(run_key())}plots/monitoring.png")
