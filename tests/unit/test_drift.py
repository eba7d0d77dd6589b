import json
import math

import numpy as np
import pytest
from model_tables import satisfaction_table

from include.finance.production import drift
from include.finance.training import ml

SPEED = "customer_satisfaction_speed"


def scores(n=2000, seed=0):
    return np.random.default_rng(seed).integers(0, 11, n).astype(float)


def test_identical_samples_have_no_drift():
    sample = scores()
    assert drift.psi(sample, sample) == 0.0 and drift.ks(sample, sample) == 0.0
    assert drift.psi(sample, sample[::-1].copy()) == 0.0  # order does not matter
    assert drift.categorical_psi(["basic", "premium", "basic"], ["premium", "basic", "basic"]) == 0.0


def test_psi_of_a_two_bin_example_computed_by_hand():
    """Bins (-inf, 0] and (0, inf): shares 1/2, 1/2 in training, 1/4, 3/4 today.

    (1/4 - 1/2) ln(1/2) + (3/4 - 1/2) ln(3/2) = 1/4 (ln 2 + ln 3/2) = ln(3) / 4.
    """
    assert drift.psi([0, 0, 1, 1], [0, 1, 1, 1], bins=2) == pytest.approx(math.log(3) / 4, abs=1e-12)


def test_an_empty_bin_counts_as_epsilon():
    """Today has no 0 at all: its share of the first bin is floored at 1e-4, so the index is large but finite."""
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert drift.psi([0, 0, 1, 1], [1, 1, 1, 1], bins=2) == pytest.approx(expected, abs=1e-12)


def test_values_outside_the_training_range_fall_in_the_outer_bins():
    """The edge is 2, a value of the training sample: 0 joins (-inf, 2], 9 joins (2, inf), half and half as before."""
    assert drift.psi([1, 2, 3, 4], [0, 0, 9, 9], bins=2) == 0.0


def test_a_score_shifted_by_3_drifts_and_a_fresh_sample_does_not():
    train, same, shifted = scores(seed=0), scores(seed=1), scores(seed=1) + 3
    assert drift.psi(train, same) < 0.05  # chance alone: about 9 * (1/2000 + 1/2000) = 0.009
    assert drift.psi(train, shifted) > 1
    assert drift.ks(train, same) < 0.05 and drift.ks(train, shifted) == pytest.approx(3 / 11, abs=0.05)


def test_a_discrete_score_is_never_split_within_a_value():
    """Eight in ten training answers are 5: the deciles 0, 5, 5, ..., 5 make the edges 0 and 5; no bin splits the 5s.

    Bins (-inf, 0], (0, 5], (5, inf): shares 0.1, 0.8, 0.1 in training, 0.2, 0.8, 0 today.
    """
    train = np.array([5.0] * 80 + [0.0] * 10 + [10.0] * 10)
    today = np.array([5.0] * 80 + [0.0] * 20)  # the 10s became 0s: two bins change, the 5s do not
    expected = (0.2 - 0.1) * math.log(2) + (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert drift.psi(train, today) == pytest.approx(expected, abs=1e-12)


def test_bin_edges_are_values_of_the_training_sample():
    """The median edge of 1, 2, 3, 4 is 2 (not 2.5): today's 2.2s are above it, as the 3s and 4s were."""
    assert drift.psi([1, 2, 3, 4], [2.2, 2.2, 9, 9], bins=2) == pytest.approx(
        (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2), abs=1e-12)


@pytest.mark.parametrize("expected, actual, statistic", [
    ([1, 2, 3], [1, 2, 3], 0.0),
    ([1, 2, 3], [7, 8, 9], 1.0),
    ([1, 2, 3, 4], [3, 4, 5, 6], 0.5),
])
def test_ks_known_values(expected, actual, statistic):
    assert drift.ks(expected, actual) == pytest.approx(statistic, abs=1e-12)


def test_a_new_category_drifts():
    """Shares basic 1/2, premium 1/2, enterprise 0 (floored at 1e-4) in training; 1/4, 1/4, 1/2 today."""
    value = drift.categorical_psi(["basic", "basic", "premium", "premium"],
                                  ["basic", "premium", "enterprise", "enterprise"])
    assert value == pytest.approx(2 * 0.25 * math.log(2) + (0.5 - 1e-4) * math.log(0.5 / 1e-4), abs=1e-12)
    assert value > 4


@pytest.mark.parametrize("call", [lambda: drift.psi([], [1.0]), lambda: drift.psi([1.0], [np.nan]),
                                  lambda: drift.ks([1.0], []), lambda: drift.categorical_psi(["a"], [])])
def test_an_empty_sample_is_refused(call):
    with pytest.raises(ValueError, match="sample has no values"):
        call()


def test_psi_needs_two_bins():
    with pytest.raises(ValueError, match="at least 2 bins, got 1"):
        drift.psi([1.0, 2.0], [1.0, 2.0], bins=1)


def drifted(rows):
    return [row["feature"] for row in rows if row["drifted"]]


def test_feature_drift_flags_exactly_the_shifted_score():
    train, today = satisfaction_table(n=2000, seed=0), satisfaction_table(n=2000, seed=1)
    today[SPEED] = today[SPEED] + 3
    rows = drift.feature_drift(train, today, threshold=0.2)
    assert [row["feature"] for row in rows] == ml.FEATURES
    assert drifted(rows) == [SPEED]
    speed = rows[ml.FEATURES.index(SPEED)]
    assert speed["psi"] > 1 and speed["ks"] > 0.2
    assert max(row["psi"] for row in rows if row["feature"] != SPEED) < 0.05
    assert json.loads(json.dumps(rows)) == rows  # plain values: the rows may cross XCom


def test_feature_drift_flags_a_new_product_type_and_has_no_ks_for_it():
    train = satisfaction_table(n=2000, seed=0)
    today = satisfaction_table(n=2000, seed=1, product_types=("basic", "premium", "enterprise"))
    rows = drift.feature_drift(train, today, threshold=0.2)
    assert drifted(rows) == ["product_type"]
    assert {row["feature"]: row["ks"] for row in rows}["product_type"] is None


def test_feature_drift_leaves_out_rows_without_survey_answers():
    """Paying customers who never answered have NULL features (the LEFT JOIN): not a shift of the answers."""
    rows = drift.feature_drift(satisfaction_table(n=2000, seed=0), satisfaction_table(n=2000, seed=1, missing=500))
    assert drifted(rows) == [] and all(np.isfinite(row["psi"]) for row in rows)


def test_the_threshold_decides_drifted():
    train, today = satisfaction_table(n=2000, seed=0), satisfaction_table(n=2000, seed=1)
    rows = drift.feature_drift(train, today, threshold=0.0)
    assert drifted(rows) == [row["feature"] for row in rows if row["psi"] > 0]
    assert drifted(drift.feature_drift(train, today, threshold=100)) == []
    at = max(row["psi"] for row in rows)
    assert drifted(drift.feature_drift(train, today, threshold=at)) == []  # drifted is psi > threshold, not >=


def test_feature_drift_names_a_missing_feature():
    train = satisfaction_table(n=50)
    with pytest.raises(ValueError, match=r"today's rows lack feature\(s\) \['product_type'\]"):
        drift.feature_drift(train, train.drop(columns=["product_type"]), threshold=0.2)
