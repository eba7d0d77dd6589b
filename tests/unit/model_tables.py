"""Small model_satisfaction tables with a known relation, and training on them: shared by the ML tests."""

import numpy as np
import pandas as pd

from include.finance.training import ml

LINEAR = ("sklearn.linear_model.LinearRegression", {})
BOOSTING = ("sklearn.ensemble.HistGradientBoostingRegressor",
            {"max_depth": 2, "max_iter": 100, "early_stopping": False, "random_state": 0})


def satisfaction_table(n=400, seed=0, missing=0, relation="linear", noise=100, product_types=("basic", "premium")):
    """A small model_satisfaction with a known relation to the speed score and the product type.

    "linear": 1000 + 300 * speed + product effect; "step": 1000 + 4000 * (speed >= 6) + product effect, where
    the product effect is 5000 for premium, 10000 for enterprise (basic and premium by default), 0 otherwise.
    Noise: normal, standard deviation `noise`. The product and service scores are noise.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"cus_{i:05d}" for i in range(n)],
            "customer_satisfaction_speed": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_product": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_service": rng.integers(0, 11, n).astype(float),
            "product_type": rng.choice(list(product_types), n),
        }
    )
    frame["avg_amount_captured"] = true_mean(frame, relation) + rng.normal(0, noise, n)
    frame.loc[: missing - 1, ml.FEATURES] = np.nan  # paying customers without survey answers (LEFT JOIN)
    return frame


def true_mean(frame: pd.DataFrame, relation: str) -> np.ndarray:
    speed = frame["customer_satisfaction_speed"].to_numpy()
    effect = 300 * speed if relation == "linear" else 4000 * (speed >= 6)
    product_type = frame["product_type"].to_numpy()
    return 1000 + effect + 5000 * (product_type == "premium") + 10000 * (product_type == "enterprise")


def train(features, model=LINEAR, name="m", keep=None):
    return ml.train_model(features, name, *model, folds=5, seed=0, keep=keep)


class Kept:
    """A `keep` of ml.train_model (what tracking.log_model_run is in finance_ml): holds what it is handed, and
    returns `adds`, what train_model adds to the result."""

    def __init__(self, **adds):
        self.adds = adds

    def __call__(self, result, pipeline, example):
        self.result, self.pipeline, self.example = result, pipeline, example
        return self.adds
