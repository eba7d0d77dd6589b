"""Drift: how far today's survey answers are from the ones the serving model (the champion) was trained on.

A model is only as good as the match between the rows it learned from and the rows it scores. Per
feature of `ml.FEATURES`, two numbers compare the champion's training rows with today's:

- PSI, the population stability index: sum over bins of (actual share - expected share) * ln(actual / expected).
  A common reading: below 0.1 stable, 0.1 to 0.25 a shift worth a look, above 0.25 a different
  population. It is what `drifted` is decided on, for numeric and categorical features alike.
- KS, the two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical
  distribution functions (0 identical, 1 disjoint). Numeric features only; categories have no order.

Missing values (customers without survey answers) are left out of both samples. scipy is imported
inside `ks`, so importing this module stays cheap.
"""

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from include.finance.training import ml

log = logging.getLogger(__name__)

# Share given to a bin one sample leaves empty, so that the logarithm is defined: a value seen in one
# sample only then weighs ln(share / 1e-4), large but finite.
EPSILON = 1e-4


def _values(name: str, sample) -> np.ndarray:
    values = np.asarray(sample, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        raise ValueError(f"the {name} sample has no values")
    return values


def _index(expected_shares: np.ndarray, actual_shares: np.ndarray, epsilon: float) -> float:
    expected_shares = np.maximum(expected_shares, epsilon)
    actual_shares = np.maximum(actual_shares, epsilon)
    return float(np.sum((actual_shares - expected_shares) * np.log(actual_shares / expected_shares)))


def psi(expected: Sequence[float], actual: Sequence[float], bins: int = 10, epsilon: float = EPSILON) -> float:
    """Population stability index of a numeric feature: `actual` (today) against `expected` (training rows).

    Bins are the expected sample's quantiles (deciles by default), so each holds about the same share
    of the training rows whatever the feature's scale. Edges are values of the expected sample, bins
    closed on the right and the outer ones open: every value of either sample falls in a bin, one
    outside the training range in an outer one, and on a discrete score (0..10, many rows per value)
    no bin splits a value; repeated edges are merged, so there is at most one bin per value.
    Empty bins count as `epsilon`. On small samples PSI is positive by chance alone, about
    (bins - 1) * (1/len(expected) + 1/len(actual)).
    """
    if bins < 2:
        raise ValueError(f"PSI needs at least 2 bins, got {bins}")
    expected_values, actual_values = _values("expected", expected), _values("actual", actual)
    edges = np.unique(np.quantile(expected_values, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf"))

    def shares(values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1) / len(values)

    return _index(shares(expected_values), shares(actual_values), epsilon)


def categorical_psi(expected: Sequence, actual: Sequence, epsilon: float = EPSILON) -> float:
    """PSI over the categories of both samples (their union): a category new today counts as `epsilon` in training."""
    expected_shares = pd.Series(expected).value_counts(normalize=True)
    actual_shares = pd.Series(actual).value_counts(normalize=True)
    for name, shares in (("expected", expected_shares), ("actual", actual_shares)):
        if shares.empty:
            raise ValueError(f"the {name} sample has no values")
    categories = expected_shares.index.union(actual_shares.index)
    return _index(expected_shares.reindex(categories, fill_value=0).to_numpy(),
                  actual_shares.reindex(categories, fill_value=0).to_numpy(), epsilon)


def ks(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two samples' distribution functions."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(_values("expected", expected), _values("actual", actual)).statistic)


def feature_drift(train: pd.DataFrame, today: pd.DataFrame, threshold: float = 0.2, bins: int = 10) -> list[dict]:
    """One row per feature of `ml.FEATURES`, in that order: {"feature", "psi", "ks", "drifted"}.

    `train` is the champion's training rows, `today` today's rows; `drifted` is psi > threshold.
    `ks` is None for categorical features. Plain JSON-friendly values (the rows may cross XCom).
    """
    for name, frame in (("the training rows", train), ("today's rows", today)):
        missing = [f for f in ml.FEATURES if f not in frame.columns]
        if missing:
            raise ValueError(f"{name} lack feature(s) {missing}; they have {list(frame.columns)}")
    rows = []
    for feature in ml.FEATURES:
        expected, actual = train[feature], today[feature]
        if feature in ml.CATEGORICAL_FEATURES:
            index, statistic = categorical_psi(expected, actual), None
        else:
            index, statistic = psi(expected, actual, bins), ks(expected, actual)
        rows.append({"feature": feature, "psi": index, "ks": statistic, "drifted": bool(index > threshold)})
    drifted = [row["feature"] for row in rows if row["drifted"]]
    log.info("drift against the champion's training rows (PSI > %s): %s", threshold, drifted or "none")
    return rows
