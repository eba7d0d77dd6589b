"""Models in production: when a newly trained model (the candidate) replaces the one serving (the champion).

Training picks the best of today's models by cross-validated R2 (`ml.select_best`); whether it should
serve is a second question, asked on today's data: the candidate and the champion are scored with
`score_on` on the SAME held-out rows of today's data (the candidate's test set, which it has not
been trained on), and `decide` compares the two scores. Comparing against the R2 the champion had on
its own training day would mix a change of model with a change of data. scikit-learn is imported
inside `score_on`, so importing this module (as DAG files do) stays cheap.

The registry is the `model_registry` table (`include/finance/sql/tables/model_registry.sql`): one row
per candidate, its status `champion` (at most one row), `candidate` (not promoted) or `retired`, and
the reason. A model's `version` is its run's key in the bucket (`<ML_ARTIFACTS_PREFIX>/<version>/`).
"""

import json
import logging
import math
from dataclasses import dataclass

import pandas as pd
from psycopg2 import sql

from include.finance.schema import MODEL_REGISTRY, insert_statement

log = logging.getLogger(__name__)

# Scores closer than this are equal: such differences come from floating-point arithmetic
# (0.105 - 0.1 < 0.005 in binary), not from the models.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_r2: float, champion_r2: float | None, margin: float) -> Decision:
    """Promote the candidate when there is no champion yet, or when it is strictly better by at least `margin`.

    Both R2 must be scored on the same held-out rows of today's data (`score_on`). The rule is
    `candidate_r2 - champion_r2 >= margin` and `candidate_r2 - champion_r2 > 0`: a tie never
    promotes, not even with margin 0, so that retraining on unchanged data does not replace the
    serving model with an equal one; a margin met exactly promotes. Scores within TOLERANCE are equal.
    The margin keeps the champion against noise-sized gains: each swap of the serving model has a cost.
    """
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"the promotion margin must be a number >= 0, got {margin!r}")
    for name, score in (("candidate", candidate_r2), ("champion", champion_r2)):
        if score is not None and not math.isfinite(score):
            raise ValueError(f"the {name}'s R2 is {score!r}: models cannot be compared on it")
    if champion_r2 is None:
        return Decision(True, f"first model: candidate {candidate_r2:.4f}, no champion yet")
    gain = candidate_r2 - champion_r2
    if gain > TOLERANCE and gain >= margin - TOLERANCE:
        return Decision(True, f"candidate {candidate_r2:.4f} beats champion {champion_r2:.4f} by {gain:.4f}"
                              f" (margin {margin:.4f})")
    tie = " (a tie keeps the champion)" if abs(gain) <= TOLERANCE else ""
    return Decision(False, f"candidate {candidate_r2:.4f} does not beat champion {champion_r2:.4f}"
                           f" by {margin:.4f}{tie}")


def score_on(model, features_test: pd.DataFrame, target_test) -> float:
    """R2 of a fitted scikit-learn pipeline (`ml.build_pipeline`) on the given rows: raw feature columns in.

    R2 is undefined on fewer than two rows (scikit-learn returns NaN with a warning): refused here.
    """
    from sklearn.metrics import r2_score

    if len(features_test) != len(target_test):
        raise ValueError(f"{len(features_test)} feature rows but {len(target_test)} targets")
    if len(features_test) < 2:
        raise ValueError(f"R2 needs at least 2 test rows, got {len(features_test)}")
    return float(r2_score(target_test, model.predict(features_test)))


COLUMNS = ("version", "run_id", "ds", "model", "model_class", "hyper_parameters", "metrics", "artifact_uri",
           "model_sha256", "training_rows_uri", "training_rows_sha256", "status", "reason", "candidate_r2",
           "champion_r2", "incumbent_version")


def candidate_of(card: dict) -> dict:
    """The registry's fields of the model a finance_ml run published (its model card)."""
    return {"version": card["version"], "run_id": card["run_id"], "ds": card["data"]["ds"], "model": card["model"],
            "model_class": card["model_class"], "hyper_parameters": card["hyper_parameters"],
            "metrics": card["metrics"], "artifact_uri": card["artifacts"]["model"],
            "model_sha256": card["model_sha256"], "training_rows_uri": card["artifacts"]["training_rows"],
            "training_rows_sha256": card["training_rows_sha256"]}


def _select(cur, schema: str, **where) -> dict | None:
    cur.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.Identifier(schema, MODEL_REGISTRY),
        sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in where)), tuple(where.values()))
    row = cur.fetchone()
    return None if row is None else {**dict(zip(COLUMNS, row)), "ds": str(row[COLUMNS.index("ds")])}


def entry(conn, schema: str, version: str) -> dict | None:
    with conn, conn.cursor() as cur:
        return _select(cur, schema, version=version)


def serving_after(decided: dict) -> str | None:
    """The version that served after `decided`'s decision: itself if it was promoted, else the champion it met."""
    return decided["version"] if decided["status"] != "candidate" else decided["incumbent_version"]


def incumbent(conn, schema: str, version: str) -> dict | None:
    """The champion `version` is (or was) measured against: the one recorded when it was decided (a rerun
    sees the same), else the champion now."""
    with conn, conn.cursor() as cur:
        entry = _select(cur, schema, version=version)
        if entry is None:
            return _select(cur, schema, status="champion")
        return _select(cur, schema, version=entry["incumbent_version"]) if entry["incumbent_version"] else None


def register(conn, schema: str, candidate: dict, score, margin: float) -> dict:
    """Decide whether `candidate` (`candidate_of`) replaces the champion, and record it, in one transaction.

    `score(entry)` is a registered model's R2 on the day's held-out rows (both are scored on the same
    rows). A candidate already registered (a retried or rerun task) keeps its recorded decision.
    Returns the candidate's registry row.
    """
    table = sql.Identifier(schema, MODEL_REGISTRY)
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))  # one decision at a time
        existing = _select(cur, schema, version=candidate["version"])
        if existing is not None:
            log.info("%s was decided already: %s (%s)", candidate["version"], existing["status"], existing["reason"])
            return existing
        current = _select(cur, schema, status="champion")
        champion_r2 = None if current is None else score(current)
        candidate_r2 = score(candidate)
        decision = decide(candidate_r2, champion_r2, margin)
        if decision.promote and current is not None:
            cur.execute(sql.SQL("UPDATE {} SET status = 'retired', reason = reason || %s, status_changed_at = now()"
                                " WHERE version = %s").format(table),
                        (f"; retired: replaced by {candidate['version']} on {candidate['ds']}", current["version"]))
        entry = {**candidate, "status": "champion" if decision.promote else "candidate", "reason": decision.reason,
                 "candidate_r2": candidate_r2, "champion_r2": champion_r2,
                 "incumbent_version": None if current is None else current["version"]}
        values = [json.dumps(entry[c]) if c in ("hyper_parameters", "metrics") else entry[c] for c in COLUMNS]
        cur.execute(insert_statement(schema, MODEL_REGISTRY, COLUMNS), values)
    log.info("%s (%s, trained on %s): %s -> %s", entry["version"], entry["model"], entry["ds"], decision.reason,
             entry["status"])
    return entry
