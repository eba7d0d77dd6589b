"""Model monitoring, day by day: how the serving model (the champion before the day's decision) fares
on the day's rows, written to `model_monitoring` (`include/finance/sql/tables/model_monitoring.sql`).

- `r2`: the champion's R2 on the day's rows (the usable sample of model_satisfaction, train and test
  split alike: the champion was trained on earlier days). Alerts when it is more than `R2_DECAY`
  below the R2 it had on its own test set when it was trained: decay.
- `psi` and `ks` per input feature against the champion's training rows (`drift.py`). Alerts when a
  feature's PSI is above `DRIFT_PSI_THRESHOLD`: drift. KS is recorded, not alerted on.

Each alert is one line through `alerts.notify_model_alert` (the log, and any notifier you add there).
The first day has no champion before it: nothing to monitor, and no rows.
"""

from __future__ import annotations

import logging

import pandas as pd

from include.finance import sql
from include.finance.production import drift
from include.finance.production.registry import score_on
from include.finance.schema import MODEL_MONITORING, insert_statement
from include.finance.training import ml

log = logging.getLogger(__name__)

COLUMNS = ("ds", "run_id", "model_version", "metric", "feature", "value", "threshold", "alert")


def measure(champion: dict, model, training_rows: pd.DataFrame | None, today: pd.DataFrame, psi_threshold: float,
            r2_decay: float) -> list[dict]:
    """The day's rows of model_monitoring (without ds and run_id) for the registered `champion` and its fitted `model`;
    without `training_rows` (a champion registered before their SHA-256 was recorded) its R2 only."""
    trained_r2 = champion["metrics"]["r2_test"]
    r2 = score_on(model, today[ml.FEATURES], today[ml.TARGET])
    rows = [{"metric": "r2", "feature": "", "value": r2, "threshold": trained_r2 - r2_decay,
             "alert": r2 < trained_r2 - r2_decay}]
    for row in (drift.feature_drift(training_rows, today, psi_threshold) if training_rows is not None else []):
        rows.append({"metric": "psi", "feature": row["feature"], "value": row["psi"], "threshold": psi_threshold,
                     "alert": row["drifted"]})
        if row["ks"] is not None:
            rows.append({"metric": "ks", "feature": row["feature"], "value": row["ks"], "threshold": None,
                         "alert": False})
    return [{**row, "model_version": champion["version"]} for row in rows]


def alert_lines(ds: str, rows: list[dict]) -> list[str]:
    """One line per alert of the day, saying what crossed which threshold."""
    lines = []
    for row in rows:
        if not row["alert"]:
            continue
        if row["metric"] == "r2":
            lines.append(f"ds={ds} model={row['model_version']} decay: R2 on the day's rows {row['value']:.4f} "
                         f"< {row['threshold']:.4f} (its test R2 when trained minus R2_DECAY)")
        else:
            lines.append(f"ds={ds} model={row['model_version']} drift: {row['feature']} PSI {row['value']:.3f} "
                         f"> {row['threshold']:.3f} (DRIFT_PSI_THRESHOLD) against its training rows")
    return lines


def store(conn, schema: str, ds: str, run_id: str, rows: list[dict]) -> int:
    """Replace the day's rows of model_monitoring, in one transaction; returns how many were written."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("schema/clear_day.sql", table=(schema, MODEL_MONITORING)), (ds,))
        cur.executemany(insert_statement(schema, MODEL_MONITORING, COLUMNS),
                        [tuple({**row, "ds": ds, "run_id": run_id}[c] for c in COLUMNS) for row in rows])
    return len(rows)


def history(conn, schema: str, until: str) -> list[dict]:
    """Every day's rows up to `until`, oldest first: what the monitoring plot draws."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("ml/monitoring_history.sql", columns=sql.identifiers(COLUMNS),
                                table=(schema, MODEL_MONITORING)), (until,))
        return [{**dict(zip(COLUMNS, row)), "ds": str(row[0])} for row in cur.fetchall()]
