"""Models in production, finance_ml's steps after training: each is one task of the DAG.

1. `monitor`: the champion serving when the day's data came (the registry's, `registry.incumbent`) is
   measured on it (`monitoring.py`: its R2, each feature's drift against its training rows); alerts
   go through `alerts.notify_model_alert`.
2. `choose_champion`: the run's best model (the candidate) and the champion are scored on the day's
   held-out rows; the candidate replaces the champion only if it is better by `PROMOTION_MARGIN`
   (`registry.py`). The decision is recorded in `model_registry` and printed in the task's log.
3. `predict_customers`: the model serving after that decision scores every customer of the day into
   `customer_predictions` (`predictions.py`).
4. `plot_monitoring`: the champion's R2 and the features' drift over the days, as
   `plots/monitoring.png` of the run.

Every model is loaded from its artifact in the bucket after its SHA-256 is checked against the
registry's; no step keeps anything on a worker's disk.
"""

from __future__ import annotations

import logging

import pandas as pd

from include.finance import alerts, artifacts, ml, monitoring, plots, predictions, registry
from include.finance.config import settings
from include.finance.hooks import db_connection

log = logging.getLogger(__name__)


def publish_candidate(features: dict, results: list[dict], run_id: str, ts_nodash: str, ds: str,
                      dataset_events: dict | None) -> dict:
    """`artifacts.publish_best_model`, which a rerun may not use to replace the files of a registered model."""
    with db_connection() as conn:
        registered = registry.entry(conn, settings.db_schema, ts_nodash)
    return artifacts.publish_best_model(features, results, run_id, ts_nodash, ds, dataset_events,
                                        registered_sha256=registered and registered["model_sha256"],
                                        registered_rows_sha256=registered and registered["training_rows_sha256"])


def monitor(features: dict, version: str, ds: str, run_id: str, context: dict) -> list[dict]:
    """The day's model_monitoring rows (none before the first champion), stored and alerted on."""
    with db_connection() as conn:
        champion = registry.incumbent(conn, settings.db_schema, version)
        if champion is None:
            log.info("no champion before %s: nothing to monitor yet", version)
            rows = []
        else:
            today = pd.concat([features["train"], features["test"]], ignore_index=True)
            training = None
            if champion["training_rows_sha256"]:
                training = artifacts.training_rows(champion)  # refused unless its SHA-256 is the registered one
            else:  # its rows cannot be checked: no drift is measured against them, its R2 still is
                log.warning("champion %s was registered before the SHA-256 of its training rows was recorded: its "
                            "drift is not measured (its R2 on the day's rows is)", champion["version"])
            rows = monitoring.measure(champion, artifacts.load_registered(champion), training, today,
                                      settings.drift_psi_threshold, settings.r2_decay)
        monitoring.store(conn, settings.db_schema, ds, run_id, rows)
    lines = monitoring.alert_lines(ds, rows)
    for line in lines:
        alerts.notify_model_alert(context, line)
    print(f"monitoring {ds}: {len(rows)} measures, {len(lines)} alerts" + "".join(f"\n  {line}" for line in lines))
    return rows


def choose_champion(features: dict, card: dict) -> dict:
    """Register the run's best model (its model card) and decide whether it serves; returns its registry row."""
    test = features["test"]

    def score(entry: dict) -> float:
        return registry.score_on(artifacts.load_registered(entry), test[ml.FEATURES], test[ml.TARGET])

    with db_connection() as conn:
        entry = registry.register(conn, settings.db_schema, registry.candidate_of(card), score,
                                  settings.promotion_margin)
    verdict = "promoted" if registry.serving_after(entry) == entry["version"] else "not promoted"
    print(f"candidate {entry['version']} ({entry['model']}, trained on {entry['ds']}) {verdict}: {entry['reason']}")
    return entry


def predict_customers(decided: dict) -> dict:
    """Every customer of the decided model's day, scored by the model serving after the decision."""
    with db_connection() as conn:
        serving = registry.entry(conn, settings.db_schema, registry.serving_after(decided))
        return {"model_version": serving["version"],
                **predictions.write_predictions(conn, settings.db_schema, decided["ds"],
                                                artifacts.load_registered(serving), serving["version"])}


def plot_monitoring(ds: str, ts_nodash: str) -> str:
    with db_connection() as conn:
        rows = monitoring.history(conn, settings.db_schema, ds)
    return artifacts.upload_plot(plots.monitoring_history(rows), "monitoring", ts_nodash)
