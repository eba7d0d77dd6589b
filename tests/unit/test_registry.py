import dataclasses

import numpy as np
import pandas as pd
import pytest
from model_tables import Kept, satisfaction_table, train

from include.finance.production import registry
from include.finance.production.registry import Decision, decide
from include.finance.training import ml


def test_the_first_model_is_promoted():
    assert decide(0.41, None, margin=0.005) == Decision(True, "first model: candidate 0.4100, no champion yet")


def test_a_champion_scoring_0_is_still_a_champion():
    """R2 0 (no better than the mean today) is a score, not a missing champion."""
    decision = decide(0.001, 0.0, margin=0.005)
    assert decision == Decision(False, "candidate 0.0010 does not beat champion 0.0000 by 0.0050")


def test_a_decision_cannot_be_changed_after_the_fact():
    with pytest.raises(dataclasses.FrozenInstanceError):
        decide(0.9, None, 0.01).promote = False


@pytest.mark.parametrize("margin", [0.0, 0.005])
def test_a_tie_keeps_the_champion(margin):
    """Equal is not better, not even with margin 0: retraining on unchanged data keeps the serving model."""
    decision = decide(0.8031, 0.8031, margin)
    assert not decision.promote
    assert decision.reason == (f"candidate 0.8031 does not beat champion 0.8031 by {margin:.4f}"
                               " (a tie keeps the champion)")


def test_with_margin_0_any_gain_promotes():
    assert decide(0.8032, 0.8031, margin=0).promote
    assert not decide(0.8030, 0.8031, margin=0).promote


def test_a_floating_point_difference_is_a_tie():
    """0.1 + 0.2 - 0.3 is 5.6e-17: arithmetic, not a better model."""
    assert not decide(0.1 + 0.2, 0.3, margin=0).promote


@pytest.mark.parametrize("candidate, champion", [(0.105, 0.1), (0.006, 0.001), (0.805, 0.8)])
def test_a_margin_just_met_promotes(candidate, champion):
    """A gain of exactly the margin is enough, though in floating point 0.105 - 0.1 is 0.0049999999999999906."""
    decision = decide(candidate, champion, margin=0.005)
    assert decision.promote
    assert decision.reason == f"candidate {candidate:.4f} beats champion {champion:.4f} by 0.0050 (margin 0.0050)"


@pytest.mark.parametrize("candidate, champion", [(0.8049, 0.8), (0.8080, 0.8031)])
def test_a_margin_just_missed_keeps_the_champion(candidate, champion):
    decision = decide(candidate, champion, margin=0.005)
    assert not decision.promote
    assert decision.reason == f"candidate {candidate:.4f} does not beat champion {champion:.4f} by 0.0050"


def test_reasons_name_both_scores_and_the_margin():
    assert decide(0.8012, 0.8031, 0.005).reason == "candidate 0.8012 does not beat champion 0.8031 by 0.0050"
    assert decide(0.85, 0.8031, 0.005).reason == "candidate 0.8500 beats champion 0.8031 by 0.0469 (margin 0.0050)"


@pytest.mark.parametrize("candidate, champion, margin, message", [
    (0.8, 0.7, -0.01, "margin must be a number >= 0, got -0.01"),
    (float("nan"), 0.7, 0.005, "the candidate's R2 is nan"),
    (0.8, float("nan"), 0.005, "the champion's R2 is nan"),
])
def test_what_cannot_be_decided_on_is_refused(candidate, champion, margin, message):
    with pytest.raises(ValueError, match=message):
        decide(candidate, champion, margin)


class Fixed:
    """A fitted model stand-in that predicts given values."""

    def __init__(self, predictions):
        self.predictions = np.asarray(predictions, dtype=float)

    def predict(self, features):
        return self.predictions


@pytest.mark.parametrize("predictions, r2", [([1, 2, 3, 4], 1.0), ([2.5] * 4, 0.0), ([2, 1, 4, 3], 0.2)])
def test_score_on_is_r2_of_the_models_predictions(predictions, r2):
    """R2 = 1 - sum of squared errors / sum of squares around the mean (5 for 1..4): 1 - 4/5 for two swaps."""
    features = pd.DataFrame({"x": [0, 0, 0, 0]})
    assert registry.score_on(Fixed(predictions), features, pd.Series([1.0, 2.0, 3.0, 4.0])) == pytest.approx(r2)


def test_score_on_scores_a_fitted_pipeline_as_training_did():
    """The candidate's test R2 from training is what score_on gives its kept Pipeline (the model logged to MLflow) on
    the same rows: one scale for both models."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    kept = Kept()
    result = train(features, keep=kept)
    test = features["test"]
    score = registry.score_on(kept.pipeline, test[ml.FEATURES], test[ml.TARGET])
    assert isinstance(score, float) and score == pytest.approx(result["r2_test"], abs=1e-12)


def test_score_on_refuses_rows_it_cannot_score():
    with pytest.raises(ValueError, match="at least 2 test rows, got 1"):
        registry.score_on(Fixed([1.0]), pd.DataFrame({"x": [0]}), pd.Series([1.0]))
    with pytest.raises(ValueError, match="2 feature rows but 3 targets"):
        registry.score_on(Fixed([1.0, 2.0]), pd.DataFrame({"x": [0, 0]}), pd.Series([1.0, 2.0, 3.0]))
