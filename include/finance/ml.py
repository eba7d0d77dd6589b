"""Features, training and plots of finance_ml: plain functions on DataFrames and lists.

No `from __future__ import annotations` here: `@aql.dataframe` recognises the DataFrame parameter
of `engineer_features` by comparing its annotation with `pd.DataFrame`. scikit-learn and matplotlib
are imported inside the functions, so importing this module (as DAG files do) stays cheap.
"""

import importlib
import logging
import time
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

NUMERIC_FEATURES = [
    "customer_satisfaction_speed",
    "customer_satisfaction_product",
    "customer_satisfaction_service",
]
CATEGORICAL_FEATURES = ["product_type"]
TARGET = "avg_amount_captured"


def engineer_features(df: pd.DataFrame, test_size: float = 0.2, seed: int = 42) -> dict:
    """Split model_satisfaction into train and test sets; scale the scores, one-hot the product type.

    Customers without survey answers (NULL scores from the LEFT JOIN) cannot be used as features:
    they are dropped and counted in the log. Returns {"train": DataFrame, "test": DataFrame}, each
    with the feature columns and the target as last column: features and target travel together,
    because the Astro SDK's XCom round trip (to_json/read_json) can reorder the rows of a frame.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = NUMERIC_FEATURES + CATEGORICAL_FEATURES + [TARGET]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"model_satisfaction lacks column(s) {missing}; it has {list(df.columns)}")
    complete = df[columns].dropna()
    log.info("%d rows in model_satisfaction, %d without survey answers dropped, %d used",
             len(df), len(df) - len(complete), len(complete))
    if len(complete) < 10:
        raise ValueError(f"only {len(complete)} complete rows in model_satisfaction: too few to train on")

    X = complete[NUMERIC_FEATURES + CATEGORICAL_FEATURES]
    y = complete[TARGET].astype(float)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)

    scaler = StandardScaler().fit(X_train[NUMERIC_FEATURES])
    encoder = OneHotEncoder(sparse_output=False, drop="first", handle_unknown="ignore")
    encoder.fit(X_train[CATEGORICAL_FEATURES])

    def transform(X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
        scaled = pd.DataFrame(scaler.transform(X[NUMERIC_FEATURES]), columns=NUMERIC_FEATURES)
        encoded = pd.DataFrame(
            encoder.transform(X[CATEGORICAL_FEATURES]), columns=encoder.get_feature_names_out(CATEGORICAL_FEATURES)
        )
        return pd.concat([scaled, encoded], axis=1).assign(**{TARGET: y.to_numpy()})

    return {"train": transform(X_train, y_train), "test": transform(X_test, y_test)}


def _model_class(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def train_model(features: dict, model_class: str, hyper_parameters: dict | None = None) -> dict:
    """Fit one regressor on the training set and score it on both sets.

    Returns plain JSON-friendly values (it may run in a Kubernetes pod): the model's name, R2 on
    train and test, fit seconds, feature importances or coefficients, and the true and predicted
    targets for the plots.
    """
    from sklearn.metrics import r2_score

    X_train, y_train = features["train"].drop(columns=[TARGET]), features["train"][TARGET]
    X_test, y_test = features["test"].drop(columns=[TARGET]), features["test"][TARGET]
    model = _model_class(model_class)(**(hyper_parameters or {}))
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    pred_train, pred_test = model.predict(X_train), model.predict(X_test)

    weights = getattr(model, "feature_importances_", None)
    if weights is None:
        weights = getattr(model, "coef_", [float("nan")] * X_train.shape[1])
    result = {
        "model": type(model).__name__,
        "r2_train": float(r2_score(y_train, pred_train)),
        "r2_test": float(r2_score(y_test, pred_test)),
        "fit_seconds": round(fit_seconds, 4),
        "feature_importance": {col: float(w) for col, w in zip(X_train.columns, weights)},
        "y_train": y_train.tolist(),
        "y_pred_train": pred_train.tolist(),
        "y_test": y_test.tolist(),
        "y_pred_test": pred_test.tolist(),
    }
    log.info("%s: r2_train=%.3f r2_test=%.3f fit %.2fs", result["model"], result["r2_train"],
             result["r2_test"], fit_seconds)
    return result


def plot_model_results(result: dict, out_dir: str | Path) -> str:
    """Predicted against true target for the train and the test set, side by side; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, split in zip(axes, ("train", "test")):
        true, pred = result[f"y_{split}"], result[f"y_pred_{split}"]
        sns.scatterplot(ax=ax, x=true, y=pred, color="black", marker="x", s=12)
        low, high = min(true), max(true)
        ax.plot([low, high], [low, high], "--", linewidth=1, color="red", label="perfect prediction")
        ax.grid(True, linestyle="--", linewidth=0.5)
        ax.set_title(f"{split.capitalize()} set ({len(true)} customers)")
        ax.set_xlabel("true average captured amount (cents)")
        ax.set_ylabel("predicted average captured amount (cents)")
        ax.text(0.05, 0.92, f"R2 = {result[f'r2_{split}']:.3f}", transform=ax.transAxes, fontsize=12)
        ax.legend(loc="lower right")
    fig.suptitle(f"{result['model']}: predicted vs true", fontsize=15)
    fig.tight_layout()
    path = out_dir / f"{result['model']}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return str(path)
