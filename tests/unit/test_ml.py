import json
import re

import numpy as np
import pytest
from model_tables import BOOSTING, LINEAR, Kept, satisfaction_table, train, true_mean

from include.finance.contract import CONTRACTS
from include.finance.training import ml
from tests.editions import AIRFLOW_3, ASTRO_SDK_ONLY, edition_only


def test_the_features_are_the_satisfaction_contracts_columns():
    """Scores are numeric features, text answers categorical ones; nothing but the contract names them."""
    survey = CONTRACTS["satisfaction"]
    assert ml.MODEL_KEY == survey.key
    assert ml.NUMERIC_FEATURES == [c.name for c in survey.columns if c.sql_type == "smallint"]
    assert ml.CATEGORICAL_FEATURES == ["product_type"]
    assert sorted(ml.FEATURES) == sorted(set(survey.names) - {survey.key})
    assert ml.TARGET not in survey.names and ml.TARGET not in CONTRACTS["charge"].names



def test_features_are_split_with_key_features_and_target():
    features = ml.engineer_features(satisfaction_table(), test_size=0.25, seed=1)
    train_set, test_set = features["train"], features["test"]
    assert (len(train_set), len(test_set)) == (300, 100)
    assert list(train_set.columns) == [ml.MODEL_KEY, *ml.FEATURES, ml.TARGET]
    assert set(train_set[ml.MODEL_KEY]).isdisjoint(test_set[ml.MODEL_KEY])
    assert features["rows"] == {"model_satisfaction": 400, "sampled": 400, "without_survey": 0, "without_target": 0,
                                "used": 400, "train": 300, "test": 100}


def test_a_sample_reports_the_whole_tables_size():
    """select_model_rows.sql adds table_rows, the size of model_satisfaction the sample was drawn from."""
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


@pytest.mark.skipif(AIRFLOW_3, reason=ASTRO_SDK_ONLY)
def test_features_survive_the_astro_xcom_round_trip():
    """Astro stores DataFrames in XCom as files; rows may come back in another order: same results."""
    from astro.dataframes.pandas import PandasDataframe

    features = ml.engineer_features(satisfaction_table(), seed=3)
    round_trip = {k: PandasDataframe.deserialize(PandasDataframe(v.sample(frac=1, random_state=1)).serialize(), 1)
                  for k, v in features.items() if k != "rows"}
    assert train(round_trip)["cv_r2"] == pytest.approx(train(features)["cv_r2"], abs=1e-12)


@pytest.mark.skipif(not AIRFLOW_3, reason=edition_only("Airflow 3's XCom serializer (airflow.sdk.serde); the Astro SDK "
                                                       "edition's XCom is tested above"))
def test_features_and_rows_survive_airflow_3s_xcom_as_json():
    """Airflow 3's XCom keeps a DataFrame as Parquet (pyarrow) in JSON: select_model_rows' rows and
    split_train_test's features come back with their values and dtypes (NULL scores included)."""
    from airflow.sdk.serde import deserialize, serialize

    rows = satisfaction_table()
    rows.loc[rows.index[:3], "customer_satisfaction_speed"] = None
    features = ml.engineer_features(rows, seed=3)
    back = deserialize(json.loads(json.dumps(serialize({"rows": rows, "features": features}))))
    assert back["rows"].equals(rows) and (back["rows"].dtypes == rows.dtypes).all()
    assert back["features"]["rows"] == features["rows"]
    assert train(back["features"])["cv_r2"] == pytest.approx(train(features)["cv_r2"], abs=1e-12)


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


def test_the_result_carries_each_test_rows_truth_prediction_and_product_type_only():
    """What the predicted-vs-true plot needs, row by row; nothing that grows with the training set."""
    features = ml.engineer_features(satisfaction_table(product_types=("basic", "premium", "enterprise")), seed=2)
    kept = Kept()
    result = train(features, keep=kept)
    predictions = result["test_predictions"]
    test = features["test"].sort_values(ml.MODEL_KEY)
    assert set(predictions) == {ml.TARGET, "predicted", "product_type"}
    assert predictions[ml.TARGET] == test[ml.TARGET].tolist()
    assert predictions["product_type"] == test["product_type"].tolist()
    assert np.allclose(predictions["predicted"], kept.pipeline.predict(test[ml.FEATURES]))
    assert not [key for key, value in result.items() if isinstance(value, list)]  # no per-row training values


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


def test_keep_is_handed_the_fitted_pipeline_and_five_test_rows_and_what_it_returns_joins_the_result():
    """finance_ml's keep logs the Pipeline to MLflow with the rows as its input example, and returns where it is."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    kept = Kept(mlflow_run_id="nested-run", model_uri="runs:/nested-run/model", model_sha256="0" * 64)
    result = train(features, keep=kept)
    assert result == {**kept.result, "mlflow_run_id": "nested-run", "model_uri": "runs:/nested-run/model",
                      "model_sha256": "0" * 64}
    assert set(kept.result) == set(train(features))
    test = features["test"].sort_values(ml.MODEL_KEY).reset_index(drop=True)
    assert kept.example.reset_index(drop=True).equals(test[ml.FEATURES].head(5))  # no key, no target
    assert np.allclose(kept.pipeline.predict(test[ml.FEATURES]), result["test_predictions"]["predicted"])
    assert kept.pipeline.score(test[ml.FEATURES], test[ml.TARGET]) == pytest.approx(result["r2_test"], abs=1e-12)


def test_the_kept_pipeline_serves_raw_features():
    features = ml.engineer_features(satisfaction_table(), seed=2)
    kept = Kept()
    train(features, ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 10, "random_state": 0}), keep=kept)
    raw = features["test"].sort_values(ml.MODEL_KEY)[ml.FEATURES]
    assert [name for name, _ in kept.pipeline.steps] == ["preprocess", "model"]
    assert kept.pipeline.predict(raw).shape == (len(raw),)
    with pytest.warns(UserWarning, match="unknown categories"):  # a new product type: encoded as all zeros
        assert np.isfinite(kept.pipeline.predict(raw.assign(product_type="never seen"))).all()


@pytest.mark.parametrize("path", ["sklearn.linear_model.NoSuchRegressor", "os.system", "subprocess.Popen",
                                  "sklearn.linear_model.ElasticNet"])  # a real estimator, but not a configured one
def test_only_a_configured_models_class_is_imported(path, monkeypatch):
    """A model spec comes through XCom: a dotted path in it that is not a configured model's class is refused
    by name before anything is imported."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    imported = []
    monkeypatch.setattr(ml.importlib, "import_module", lambda name: imported.append(name))
    with pytest.raises(ValueError, match=rf"^model class {re.escape(repr(path))} is not one of the configured "
                                         r"models' classes \(.*sklearn\.linear_model\.LinearRegression.*\): refusing"):
        train(features, (path, {}))
    with pytest.raises(ValueError, match=re.escape(repr(path))):
        ml.build_pipeline(path, {})
    assert imported == []


def test_a_model_left_out_by_ml_models_is_refused_too(monkeypatch):
    from include.finance import config

    monkeypatch.setattr(config, "settings", config.Settings.from_env({"ML_MODELS": "Lasso"}))
    features = ml.engineer_features(satisfaction_table(), seed=2)
    with pytest.raises(ValueError, match="'sklearn.linear_model.LinearRegression' is not one of the configured "
                                         r"models' classes \(sklearn.linear_model.Lasso\)"):
        train(features, LINEAR)
    assert ml.build_pipeline("sklearn.linear_model.Lasso", {"alpha": 2.0})
