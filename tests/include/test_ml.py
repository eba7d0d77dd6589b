import hashlib
import json
import re

import joblib
import numpy as np
import pandas as pd
import pytest

from include.finance import ml

LINEAR = ("sklearn.linear_model.LinearRegression", {})
BOOSTING = ("sklearn.ensemble.HistGradientBoostingRegressor",
            {"max_depth": 2, "max_iter": 100, "early_stopping": False, "random_state": 0})


def satisfaction_table(n=400, seed=0, missing=0, relation="linear", noise=100):
    """A small model_satisfaction with a known relation to the speed score and the product type.

    "linear": 1000 + 300 * speed + 5000 * premium; "step": 1000 + 4000 * (speed >= 6) + 5000 * premium.
    Noise: normal, standard deviation `noise`. The product and service scores are noise.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"cus_{i:05d}" for i in range(n)],
            "customer_satisfaction_speed": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_product": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_service": rng.integers(0, 11, n).astype(float),
            "product_type": rng.choice(["basic", "premium"], n),
        }
    )
    frame["avg_amount_captured"] = true_mean(frame, relation) + rng.normal(0, noise, n)
    frame.loc[: missing - 1, ml.FEATURES] = np.nan  # paying customers without survey answers (LEFT JOIN)
    return frame


def true_mean(frame: pd.DataFrame, relation: str) -> np.ndarray:
    speed = frame["customer_satisfaction_speed"].to_numpy()
    effect = 300 * speed if relation == "linear" else 4000 * (speed >= 6)
    return 1000 + effect + 5000 * (frame["product_type"] == "premium").to_numpy()


def train(features, model=LINEAR, name="m"):
    return ml.train_model(features, name, *model, folds=5, seed=0)


def test_features_are_split_with_key_features_and_target():
    features = ml.engineer_features(satisfaction_table(), test_size=0.25, seed=1)
    train_set, test_set = features["train"], features["test"]
    assert (len(train_set), len(test_set)) == (300, 100)
    assert list(train_set.columns) == [ml.KEY, *ml.FEATURES, ml.TARGET]
    assert set(train_set[ml.KEY]).isdisjoint(test_set[ml.KEY])
    assert features["rows"] == {"model_satisfaction": 400, "sampled": 400, "without_survey": 0, "without_target": 0,
                                "used": 400, "train": 300, "test": 100}


def test_a_sample_reports_the_whole_tables_size():
    """SELECT_MODEL_ROWS adds table_rows, the size of model_satisfaction the sample was drawn from."""
    sample = satisfaction_table().assign(table_rows=2_000_000)
    rows = ml.engineer_features(sample, test_size=0.25, seed=1)["rows"]
    assert (rows["model_satisfaction"], rows["sampled"], rows["used"]) == (2_000_000, 400, 400)


def test_rows_without_survey_answers_are_left_out_and_counted():
    table = satisfaction_table(missing=40)
    table.loc[100, ml.TARGET] = np.nan
    features = ml.engineer_features(table, test_size=0.25, seed=1)
    assert features["rows"]["without_survey"] == 40 and features["rows"]["without_target"] == 1
    assert features["rows"]["used"] == len(features["train"]) + len(features["test"]) == 359
    assert not features["train"].isna().any().any()


def test_the_split_does_not_depend_on_the_row_order():
    table = satisfaction_table()
    first = ml.engineer_features(table, seed=1)
    shuffled = ml.engineer_features(table.sample(frac=1, random_state=5), seed=1)
    assert first["train"].equals(shuffled["train"]) and first["test"].equals(shuffled["test"])


@pytest.mark.parametrize("n, missing", [(0, 0), (5, 0), (60, 20)])
def test_too_few_rows_is_a_clear_error(n, missing):
    table = satisfaction_table(n=n, missing=missing)
    with pytest.raises(ml.NotEnoughData, match=rf"has {n - missing} usable rows \({n} rows, {missing} without survey"):
        ml.engineer_features(table, min_rows=50)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['product_type'\]"):
        ml.engineer_features(satisfaction_table().drop(columns=["product_type"]))


def test_features_survive_the_astro_xcom_round_trip():
    """Astro stores DataFrames in XCom as files; rows may come back in another order: same results."""
    from astro.dataframes.pandas import PandasDataframe

    features = ml.engineer_features(satisfaction_table(), seed=3)
    round_trip = {k: PandasDataframe.deserialize(PandasDataframe(v.sample(frac=1, random_state=1)).serialize(), 1)
                  for k, v in features.items() if k != "rows"}
    assert train(round_trip)["cv_r2"] == pytest.approx(train(features)["cv_r2"], abs=1e-12)


@pytest.mark.parametrize(
    "model_class, hyper_parameters",
    [
        LINEAR,
        ("sklearn.linear_model.RidgeCV", {"alphas": [0.1, 1.0]}),
        ("sklearn.linear_model.PoissonRegressor", {"alpha": 1e-4, "max_iter": 1000}),
        ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 20, "random_state": 0}),
        BOOSTING,
    ],
)
def test_train_model_cross_validates_fits_and_explains(model_class, hyper_parameters):
    features = ml.engineer_features(satisfaction_table(), seed=2)
    result = train(features, (model_class, hyper_parameters), name="candidate")
    assert result["model"] == "candidate" and result["model_class"] == model_class
    assert result["cv_folds"] == 5 and 0 < result["cv_r2_std"] < 0.1
    assert min(result["cv_r2"], result["r2_train"], result["r2_test"]) > 0.9
    assert result["fit_seconds"] > 0
    assert len(result["y_test"]) == len(result["y_pred_test"]) == len(features["test"])
    # permutation importance on the raw features: speed and product type matter, the other scores do not
    importance = result["feature_importance"]
    assert set(importance) == set(ml.FEATURES)
    assert min(importance["customer_satisfaction_speed"], importance["product_type"]) > 0.1
    assert max(importance["customer_satisfaction_product"], importance["customer_satisfaction_service"]) < 0.02
    if model_class.startswith("sklearn.linear_model"):
        assert set(result["coefficients"]) == {*ml.NUMERIC_FEATURES, "product_type_premium", "intercept"}
    else:
        assert result["coefficients"] is None
    json.dumps(result)  # crosses XCom (and a Kubernetes pod boundary) as JSON


@pytest.mark.parametrize("relation, winner, loser", [("linear", LINEAR, BOOSTING), ("step", BOOSTING, LINEAR)])
def test_selection_picks_the_model_that_matches_the_relation(relation, winner, loser):
    features = ml.engineer_features(satisfaction_table(n=600, relation=relation, noise=800), seed=4)
    results = [train(features, loser, name="loser"), train(features, winner, name="winner")]
    assert ml.select_best(results)["model"] == "winner"
    # and the winner reaches what the data allows on the same folds
    limit = ml.cv_r2_of(lambda X: true_mean(X, relation), features, folds=5, seed=0)
    assert ml.select_best(results)["cv_r2"] == pytest.approx(limit, abs=0.01)
    assert ml.select_best(results)["cv_r2"] - min(r["cv_r2"] for r in results) > 0.003


def test_selection_breaks_ties_by_fit_time():
    results = [{"model": "slow", "cv_r2": 0.80001, "fit_seconds": 5.0},
               {"model": "fast", "cv_r2": 0.80002, "fit_seconds": 0.1},
               {"model": "worse", "cv_r2": 0.7, "fit_seconds": 0.01}]
    assert ml.select_best(results)["model"] == "fast"
    with pytest.raises(ValueError, match="no model results"):
        ml.select_best([])


def test_the_best_pipeline_is_refitted_identically_and_serves_raw_features(tmp_path):
    features = ml.engineer_features(satisfaction_table(), seed=2)
    best = train(features, ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 10, "random_state": 0}))
    pipeline = ml.fit_best(features, best)
    joblib.dump(pipeline, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    raw = features["test"].sort_values(ml.KEY)[ml.FEATURES]
    assert np.allclose(loaded.predict(raw), pipeline.predict(raw))
    assert [name for name, _ in loaded.steps] == ["preprocess", "model"]
    with pytest.warns(UserWarning, match="unknown categories"):  # a new product type: encoded as all zeros
        assert np.isfinite(loaded.predict(raw.assign(product_type="never seen"))).all()


def test_an_unseeded_model_is_caught_when_refitted():
    features = ml.engineer_features(satisfaction_table(), seed=2)
    best = train(features, ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 5}))
    with pytest.raises(RuntimeError, match="not reproducible"):
        ml.fit_best(features, best)


def test_train_model_names_an_unknown_class():
    features = ml.engineer_features(satisfaction_table(), seed=2)
    with pytest.raises(AttributeError, match="NoSuchRegressor"):
        train(features, ("sklearn.linear_model.NoSuchRegressor", {}))


def test_model_card_describes_data_metrics_and_versions():
    features = ml.engineer_features(satisfaction_table(missing=10), seed=2)
    results = [train(features, LINEAR, "LinearRegression"), train(features, BOOSTING, "GradientBoosting")]
    best = ml.select_best(results)
    card = ml.model_card(best, results, features["rows"], {"ds": "2026-11-20"}, {"model": "s3://b/k/model.joblib"},
                         b"model bytes")
    assert card["model"] == "LinearRegression" and card["metrics"]["cv_r2"] == best["cv_r2"]
    assert card["model_sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    assert card["rows"]["without_survey"] == 10 and card["data"] == {"ds": "2026-11-20"}
    assert set(card["all_models"]) == {"LinearRegression", "GradientBoosting"}
    assert card["features"]["categorical (one-hot)"] == ["product_type"]
    assert card["libraries"]["scikit-learn"] == __import__("sklearn").__version__
    json.dumps(card)


def published_model(tmp_path):
    """A fitted Pipeline, its model.joblib written from the serialized bytes, and its card."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    best = train(features)
    pipeline = ml.fit_best(features, best, seed=0)
    model_bytes = ml.serialize_model(pipeline)
    path = tmp_path / "model.joblib"
    path.write_bytes(model_bytes)
    card = ml.model_card(best, [best], features["rows"], {}, {"model": "s3://b/run/model.joblib"}, model_bytes)
    return pipeline, path, json.loads(json.dumps(card)), features["test"][ml.FEATURES]


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("joblib.load was reached")

    monkeypatch.setattr(joblib, "load", refuse)


def test_a_model_matching_its_card_is_loaded(tmp_path):
    pipeline, path, card, raw = published_model(tmp_path)
    assert card["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for model in (path, str(path), path.read_bytes()):
        assert np.allclose(ml.load_model(model, card).predict(raw), pipeline.predict(raw))


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_tampered_model_is_refused_before_unpickling(tmp_path, no_unpickling, as_bytes):
    _, path, card, _ = published_model(tmp_path)
    tampered = bytearray(path.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(tampered)
    digest = hashlib.sha256(tampered).hexdigest()
    name = "s3://b/run/model.joblib" if as_bytes else str(path)
    with pytest.raises(ValueError, match=rf"^{re.escape(name)} has SHA-256 {digest} but its model card says "
                                         rf"{card['model_sha256']}: refusing"):
        ml.load_model(bytes(tampered) if as_bytes else path, card)


def test_a_card_without_the_hash_is_refused(tmp_path, no_unpickling):
    _, path, card, _ = published_model(tmp_path)
    del card["model_sha256"]
    with pytest.raises(ValueError, match="model card has no model_sha256"):
        ml.load_model(path, card)


def test_plots_are_pngs(tmp_path):
    features = ml.engineer_features(satisfaction_table(), seed=2)
    results = [train(features, LINEAR, "LinearRegression"), train(features, BOOSTING, "GradientBoosting")]
    paths = [ml.plot_model_results(results[0], tmp_path), ml.plot_comparison(results, tmp_path)]
    assert paths == [str(tmp_path / "LinearRegression.png"), str(tmp_path / "comparison.png")]
    for path in paths:
        data = open(path, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
