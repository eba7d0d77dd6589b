"""Models in production: when a newly trained model (the candidate) replaces the one serving (the champion).

Training picks the best of today's models by cross-validated R2 (`ml.select_best`); whether it should
serve is a second question, asked on today's data: the candidate and the champion are scored with
`score_on` on the SAME held-out rows of today's data (the candidate's test set, which it has not
been trained on), and `decide` compares the two scores. Comparing against the R2 the champion had on
its own training day would mix a change of model with a change of data. scikit-learn is imported
inside `score_on`, so importing this module (as DAG files do) stays cheap.

The registry is MLflow's: the registered model MLFLOW_REGISTERED_MODEL, one version per finance_ml run (its
best model, the nested run's MLflow model), found again by its tag `finance.run_key`. The decision is on the
version (tags `finance.decision`, `finance.reason`, both R2, the incumbent's version; its description), and
the aliases say what serves: `champion` the serving version, `challenger` the last candidate not promoted.
MLflow keeps each alias on one version at most. A version's `status` here is derived: `champion` (it has
the alias), `retired` (promoted once, replaced since) or `candidate` (never promoted).
"""

import logging
import math
from dataclasses import dataclass

import pandas as pd

from include.finance.config import settings

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


CHAMPION, CHALLENGER = "champion", "challenger"
PREFIX = "finance."
# the version's tags (under PREFIX): what it is, what it was trained on, and (once decided) the decision
FIELDS = ("run_key", "run_id", "ds", "model", "model_class", "model_sha256", "training_rows_uri",
          "training_rows_sha256", "r2_test", "mlflow_day_run_id")
DECISION = ("decision", "reason", "candidate_r2", "champion_r2", "incumbent_version")


class RegistryError(RuntimeError):
    """The registry is in a state no decision can be taken in; the message names the model and version(s)."""


def candidate_of(card: dict) -> dict:
    """The registry's fields of the model a finance_ml run published (its model card)."""
    return {"run_key": card["version"], "run_id": card["run_id"], "ds": card["data"]["ds"], "model": card["model"],
            "model_class": card["model_class"], "model_sha256": card["model_sha256"],
            "training_rows_uri": card["artifacts"]["training_rows"],
            "training_rows_sha256": card["training_rows_sha256"], "r2_test": card["metrics"]["r2_test"],
            "mlflow_day_run_id": card["mlflow"]["day_run_id"], "mlflow_run_id": card["mlflow"]["run_id"],
            "model_uri": card["mlflow"]["model_uri"]}


def _number(value: str | None) -> float | None:
    return None if value in (None, "", "None") else float(value)


def entry_of(version) -> dict:
    """A registered version (MLflow's ModelVersion) as the registry's entry: its tags, aliases and status."""
    tags = {key.removeprefix(PREFIX): value for key, value in version.tags.items() if key.startswith(PREFIX)}
    aliases = list(getattr(version, "aliases", []) or [])
    decision = tags.get("decision")
    status = CHAMPION if CHAMPION in aliases else "retired" if decision == "promoted" else "candidate"
    return {**{name: tags.get(name) for name in FIELDS + DECISION}, "version": str(version.version),
            "aliases": aliases, "status": status, "model_uri": f"models:/{version.name}/{version.version}",
            "candidate_r2": _number(tags.get("candidate_r2")), "champion_r2": _number(tags.get("champion_r2")),
            "incumbent_version": tags.get("incumbent_version") or None,
            "metrics": {"r2_test": _number(tags.get("r2_test"))}, "mlflow_run_id": version.run_id,
            "description": version.description}


def of_run(client, run_key: str) -> dict | None:
    """The version finance_ml run `run_key` registered, if any; two are a registry no decision is taken in."""
    found = client.search_model_versions(f"name = '{settings.mlflow_registered_model}' and "
                                         f"tags.`{PREFIX}run_key` = '{run_key}'")
    if len(found) > 1:
        raise RegistryError(f"registered model {settings.mlflow_registered_model}: versions "
                            f"{', '.join(sorted(v.version for v in found))} are all the model of run {run_key}: "
                            "nothing is promoted until all but one are deleted")
    return entry_of(client.get_model_version(found[0].name, found[0].version)) if found else None


def version(client, number: str) -> dict:
    return entry_of(client.get_model_version(settings.mlflow_registered_model, str(number)))


def champion(client) -> dict | None:
    """The version with the alias `champion`, if any; an alias on a version that is not there (deleted) or not
    ready is an error that names it."""
    from mlflow.exceptions import MlflowException

    name = settings.mlflow_registered_model
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as error:
        if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if CHAMPION not in aliases:
        promoted = client.search_model_versions(f"name = '{name}' and tags.`{PREFIX}decision` = 'promoted'")
        if promoted:  # the champion's version was deleted (its alias with it), or the alias removed by hand
            raise RegistryError(f"registered model {name}: no version has the alias {CHAMPION}, but version(s) "
                                f"{', '.join(sorted(v.version for v in promoted))} were promoted: nothing is "
                                f"promoted until the alias is set on the serving version again")
        return None
    number = aliases[CHAMPION]
    try:
        found = client.get_model_version(name, number)
    except MlflowException as error:
        raise RegistryError(f"registered model {name}: alias {CHAMPION} is on version {number}, which cannot be read "
                            f"({str(error).splitlines()[0]}): nothing is promoted until the alias is fixed") from None
    if found.status != "READY":
        raise RegistryError(f"registered model {name}: alias {CHAMPION} is on version {number}, whose status is "
                            f"{found.status}: nothing is promoted until the alias is fixed")
    return entry_of(found)


def serving_after(decided: dict) -> str | None:
    """The version that served after `decided`'s decision: itself if it was promoted, else the champion it met."""
    return decided["version"] if decided["decision"] == "promoted" else decided["incumbent_version"]


def incumbent(client, run_key: str) -> dict | None:
    """The champion run `run_key`'s model is (or was) measured against: the one recorded when it was decided (a
    rerun sees the same), else the champion now."""
    entry = of_run(client, run_key)
    if entry is None or entry["decision"] is None:
        return champion(client)
    return version(client, entry["incumbent_version"]) if entry["incumbent_version"] else None


def _ensure_registered(client, candidate: dict) -> dict:
    from mlflow.exceptions import MlflowException

    name = settings.mlflow_registered_model
    try:
        client.create_registered_model(name, description="finance_ml's best model of each run: predicts a "
                                       "customer's average captured amount (cents) from the survey's answers")
    except MlflowException as error:
        if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    existing = of_run(client, candidate["run_key"])
    if existing is not None:
        return existing
    tags = {PREFIX + k: str(candidate[k]) for k in FIELDS}
    created = client.create_model_version(name, candidate["model_uri"], run_id=candidate["mlflow_run_id"], tags=tags,
                                          description=f"{candidate['model']} trained on {candidate['ds']} "
                                                      f"(finance_ml run {candidate['run_key']}): not decided yet")
    return entry_of(client.get_model_version(name, created.version))


def _apply_aliases(client, entry: dict, current: dict | None) -> None:
    """Move the aliases as `entry`'s recorded decision says, unless a later decision moved them since."""
    name = settings.mlflow_registered_model
    if entry["decision"] == "promoted":
        if (current or {}).get("version") == entry["incumbent_version"]:
            client.set_registered_model_alias(name, CHAMPION, entry["version"])
    elif (current or {}).get("version") == entry["incumbent_version"]:
        client.set_registered_model_alias(name, CHALLENGER, entry["version"])


def register(client, candidate: dict, score, margin: float) -> dict:
    """Register `candidate` (`candidate_of`) as a version, decide whether it replaces the champion, record the
    decision on the version and move the aliases. `score(entry)` is a registered version's R2 on the day's
    held-out rows (both are scored on the same rows). Decisions are taken one at a time (finance_ml runs one run
    at a time). A run registered and decided before (a retried or rerun task) keeps its version and decision:
    no second version, no alias moved (one the decision had not moved yet is moved). Returns the entry."""
    entry = _ensure_registered(client, candidate)
    current = champion(client)
    if entry["decision"] is not None:
        log.info("version %s (run %s) was decided already: %s (%s)", entry["version"], entry["run_key"],
                 entry["decision"], entry["reason"])
        _apply_aliases(client, entry, current)
        return version(client, entry["version"])
    if current is not None and current["version"] == entry["version"]:
        raise RegistryError(f"registered model {settings.mlflow_registered_model}: version {entry['version']} has the "
                            f"alias {CHAMPION} but no recorded decision: nothing is promoted")
    champion_r2 = None if current is None else score(current)
    candidate_r2 = score(entry)
    decision = decide(candidate_r2, champion_r2, margin)
    name, number = settings.mlflow_registered_model, entry["version"]
    recorded = {"decision": "promoted" if decision.promote else "not promoted", "reason": decision.reason,
                "candidate_r2": repr(candidate_r2), "champion_r2": repr(champion_r2),
                "incumbent_version": "" if current is None else current["version"]}
    for key, value in recorded.items():  # the decision first: a retry after a crash finds it and keeps it
        client.set_model_version_tag(name, number, PREFIX + key, value)
    client.update_model_version(name, number, description=f"{entry['model']} trained on {entry['ds']} (finance_ml run "
                                                          f"{entry['run_key']}): {recorded['decision']}: {decision.reason}")
    entry = version(client, number)
    _apply_aliases(client, entry, current)
    entry = version(client, number)
    log.info("version %s (%s, trained on %s): %s -> %s", number, entry["model"], entry["ds"], decision.reason,
             entry["status"])
    return entry
