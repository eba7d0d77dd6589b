"""Features, training and model selection of finance_ml: plain functions on DataFrames and dicts.

Plots are in `plots.py`, the model card and what a run uploads in `artifacts.py`.
No `from __future__ import annotations` here: `@aql.dataframe` recognises the DataFrame parameter
of `split_train_test` by comparing its annotation with `pd.DataFrame`. scikit-learn is imported
inside the functions, so importing this module (as DAG files do) stays cheap.
"""

import hashlib
import importlib
import logging
import time

import pandas as pd

from include.finance.config import or_settings
# the model table's columns, which the models' code names as ml.FEATURES, ml.TARGET, ...
from include.finance.contract import (CATEGORICAL_FEATURES, FEATURES, MODEL_KEY, NUMERIC_FEATURES, TARGET,
                                      TARGET_UNIT)

log = logging.getLogger(__name__)


class NotEnoughData(ValueError):
    """model_satisfaction has too few usable rows to train and cross-validate on."""


def answered(frame: pd.DataFrame):
    """Which rows have every survey answer: the only ones a model can score (a paying customer who never
    answered the survey has NULL features, from the LEFT JOIN)."""
    return frame[FEATURES].notna().all(axis=1)


def engineer_features(df: pd.DataFrame, test_size: float | None = None, seed: int | None = None,
                      min_rows: int | None = None) -> dict:
    """Keep the usable rows of model_satisfaction and split them into a train and a test set.

    A customer who paid but never answered the survey has NULL scores and product type (the LEFT
    JOIN keeps them): nothing to predict from, so such rows are left out of training on purpose and
    counted in `rows`. Rows are sorted by customer before the seeded split, so the split does not
    depend on the order the database returns them in. Scaling and encoding are not done here: they
    are the first steps of each model's Pipeline (`build_pipeline`), fitted on training rows only
    and shipped with the model.

    Returns {"train": DataFrame, "test": DataFrame, "rows": {...}}; each frame holds the key, the
    features and the target (the Astro SDK's XCom round trip may reorder rows, so they travel together).
    `test_size`, `seed` and `min_rows` not given are the settings' (ML_TEST_SIZE, ML_SEED, MIN_MODEL_ROWS).
    """
    from sklearn.model_selection import train_test_split

    test_size, seed, min_rows = or_settings(ml_test_size=test_size, ml_seed=seed, min_model_rows=min_rows)

    columns = [MODEL_KEY] + FEATURES + [TARGET]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"model_satisfaction lacks column(s) {missing}; it has {list(df.columns)}")
    without_survey = ~answered(df)
    without_target = df[TARGET].isna()
    usable = df.loc[~without_survey & ~without_target, columns].sort_values(MODEL_KEY, kind="stable")
    rows = {
        # all the day's rows when df is a sample of them (sql/select_model_rows.sql)
        "model_satisfaction": int(df["table_rows"].iloc[0]) if "table_rows" in df and len(df) else len(df),
        "sampled": len(df),
        "without_survey": int(without_survey.sum()),
        "without_target": int((without_target & ~without_survey).sum()),
        "used": len(usable),
    }
    log.info("model_satisfaction: %d rows, %d sampled; %d without survey answers and %d without a target left out,"
             " %d used", rows["model_satisfaction"], rows["sampled"], rows["without_survey"], rows["without_target"],
             rows["used"])
    if len(usable) < min_rows:
        raise NotEnoughData(
            f"model_satisfaction has {rows['used']} usable rows ({rows['model_satisfaction']} rows, "
            f"{rows['without_survey']} without survey answers, {rows['without_target']} without a target); "
            f"at least {min_rows} are needed to train and cross-validate (MIN_MODEL_ROWS). "
            "Check the day's input files and the load_audit and load_rejects tables."
        )
    usable[TARGET] = usable[TARGET].astype(float)
    train, test = train_test_split(usable, test_size=test_size, random_state=seed)
    rows.update(train=len(train), test=len(test))
    return {"train": train.reset_index(drop=True), "test": test.reset_index(drop=True), "rows": rows}


def split_train_test(df: pd.DataFrame, test_size: float | None = None, seed: int | None = None,
                     min_rows: int | None = None, day: str = "") -> dict:
    """`engineer_features` as finance_ml's task: too few rows fail it at once, since retrying cannot help."""
    from include.finance.edition import AirflowFailException

    try:
        return engineer_features(df, test_size, seed, min_rows)
    except NotEnoughData as error:
        raise AirflowFailException(f"{day}: {error}" if day else str(error)) from None


def _class(path: str):
    """The estimator class at `path`, only if it is a configured model's (`settings.models`, config.py).

    A model's class path comes through XCom (and a training pod's arguments): importing and calling
    any dotted path found there would run whatever code it names, so anything else is refused before
    it is imported.
    """
    from include.finance.config import settings

    allowed = sorted({model["model_class"] for model in settings.models})
    if path not in allowed:
        raise ValueError(f"model class {path!r} is not one of the configured models' classes ({', '.join(allowed)}):"
                         " refusing to import it. Models are added in include/finance/config.py (_models)")
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build_pipeline(model_class: str, hyper_parameters: dict | None = None):
    """One scikit-learn Pipeline: scale the scores, one-hot encode the product type, then the model.

    Whoever loads the serialized model gets the same transforms: it takes the raw feature columns.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    preprocess = ColumnTransformer(
        [
            ("scale", StandardScaler(), NUMERIC_FEATURES),
            ("encode", OneHotEncoder(drop="first", handle_unknown="ignore"), CATEGORICAL_FEATURES),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), ("model", _class(model_class)(**(hyper_parameters or {})))])


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(MODEL_KEY, kind="stable").reset_index(drop=True)


def cv_splitter(folds: int, seed: int):
    from sklearn.model_selection import KFold

    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def train_model(features: dict, name: str, model_class: str, hyper_parameters: dict | None = None,
                folds: int | None = None, seed: int | None = None, keep=None) -> dict:
    """Cross-validate one model on the training set, fit it on the whole training set, score the test set.

    `cv_r2` is the mean R2 over `folds` seeded folds of the training set (`cv_r2_std` their spread):
    what models are compared and selected on. `r2_test` scores the one held-out test set. Returns
    plain JSON-friendly values (it may run in a Kubernetes pod): metrics, fit seconds, permutation
    feature importances (mean drop in test R2 when a feature's values are shuffled), coefficients
    where the model has them, and `test_predictions`: the test set's true and predicted targets and
    categorical features, column by column, for the plots (at most ML_MAX_ROWS * ML_TEST_SIZE rows; the
    training set's predictions are left out to keep the result small).

    `keep(result, pipeline, example)`, if given, keeps the fitted Pipeline (finance_ml logs it to MLflow,
    `tracking.log_model_run`, with 5 test rows as its input example); what it returns is added to the result.
    """
    folds, seed = or_settings(ml_cv_folds=folds, ml_seed=seed)
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score
    from sklearn.model_selection import cross_val_score

    train, test = _sorted(features["train"]), _sorted(features["test"])
    X_train, y_train, X_test, y_test = train[FEATURES], train[TARGET], test[FEATURES], test[TARGET]
    pipeline = build_pipeline(model_class, hyper_parameters)
    cv_scores = cross_val_score(pipeline, X_train, y_train, cv=cv_splitter(folds, seed), scoring="r2")
    started = time.perf_counter()
    pipeline.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    pred_test = pipeline.predict(X_test)

    importance = permutation_importance(pipeline, X_test, y_test, scoring="r2", n_repeats=5, random_state=seed)
    model = pipeline.named_steps["model"]
    coefficients = None
    if hasattr(model, "coef_"):
        names = pipeline.named_steps["preprocess"].get_feature_names_out()
        coefficients = {str(n): float(c) for n, c in zip(names, model.coef_)}
        coefficients["intercept"] = float(model.intercept_)
    result = {
        "model": name,
        "model_class": model_class,
        "hyper_parameters": hyper_parameters or {},
        "cv_r2": float(cv_scores.mean()),
        "cv_r2_std": float(cv_scores.std()),
        "cv_folds": folds,
        "r2_train": float(r2_score(y_train, pipeline.predict(X_train))),
        "r2_test": float(r2_score(y_test, pred_test)),
        "fit_seconds": round(fit_seconds, 4),
        "feature_importance": {f: float(v) for f, v in zip(FEATURES, importance.importances_mean)},
        "coefficients": coefficients,
        "test_predictions": {TARGET: y_test.tolist(), "predicted": pred_test.tolist(),
                             **{c: test[c].tolist() for c in CATEGORICAL_FEATURES}},
    }
    log.info("%s: cv_r2=%.4f±%.4f r2_train=%.3f r2_test=%.3f fit %.2fs", name, result["cv_r2"],
             result["cv_r2_std"], result["r2_train"], result["r2_test"], fit_seconds)
    return {**result, **(keep(result, pipeline, X_test.head(5)) if keep else {})}


def cv_r2_of(predict, features: dict, folds: int | None = None, seed: int | None = None) -> float:
    """Mean R2 of a fixed predictor (a function of the feature frame) over the same folds `train_model` uses.

    With the generator's true conditional mean as `predict`, this is what the data allows on exactly
    the rows the models are cross-validated on.
    """
    folds, seed = or_settings(ml_cv_folds=folds, ml_seed=seed)
    from sklearn.metrics import r2_score

    train = _sorted(features["train"])
    scores = [r2_score(train[TARGET].iloc[fold], predict(train[FEATURES].iloc[fold]))
              for _, fold in cv_splitter(folds, seed).split(train)]
    return float(sum(scores) / len(scores))


def rank(result: dict) -> tuple:
    """How models compare: by cross-validated R2; of equal scores (to 4 decimals), the fastest to fit is better."""
    return round(result["cv_r2"], 4), -result["fit_seconds"]


def select_best(results: list[dict]) -> dict:
    """The model with the highest cross-validated R2; of equal scores (to 4 decimals), the fastest to fit."""
    if not results:
        raise ValueError("no model results to select from")
    return max(results, key=rank)


def check_sha256(data: bytes, expected: str | None, name: str, recorded_in: str, field: str, use: str) -> None:
    """Refuse `data`, the bytes of file `name`, unless their SHA-256 is `expected` (`field` of `recorded_in`), and
    also when none was recorded, before anything reads them (`use` says what would: "load", "measure drift
    against"). A published file (a model's model.pkl, training_rows.csv.gz) is read back from an artifact store or
    a bucket, where anyone who can write to it could have replaced it."""
    if not expected:
        raise ValueError(f"{recorded_in} has no {field}: refusing to {use} {name} unverified")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(f"{name} has SHA-256 {actual} but {recorded_in} says {expected}: refusing to {use} it")
