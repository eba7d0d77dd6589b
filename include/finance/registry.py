"""Models in production: when a newly trained model (the candidate) replaces the one serving (the champion).

Training picks the best of today's models by cross-validated R2 (`ml.select_best`); whether it should
serve is a second question, asked on today's data: the candidate and the champion are scored with
`score_on` on the SAME held-out rows of today's data (the candidate's test set, which it has not
been trained on), and `decide` compares the two scores. Comparing against the R2 the champion had on
its own training day would mix a change of model with a change of data. scikit-learn is imported
inside `score_on`, so importing this module (as DAG files will) stays cheap.
"""

import math
from dataclasses import dataclass

import pandas as pd

# Scores closer than this are equal: such differences come from floating-point arithmetic
# (0.105 - 0.1 < 0.005 in binary), not from the models.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_r2: float, champion_r2: float | None, margin: float = 0.005) -> Decision:
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
