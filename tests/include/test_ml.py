import numpy as np
import pandas as pd
import pytest

from include.finance import ml


def satisfaction_table(n=400, seed=0, missing=0):
    """A small model_satisfaction with a known linear relation to the speed score and product type."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"cus_{i}" for i in range(n)],
            "customer_satisfaction_speed": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_product": rng.integers(0, 11, n).astype(float),
            "customer_satisfaction_service": rng.integers(0, 11, n).astype(float),
            "product_type": rng.choice(["basic", "premium"], n),
        }
    )
    frame["avg_amount_captured"] = (
        1000 + 300 * frame["customer_satisfaction_speed"] + 5000 * (frame["product_type"] == "premium")
        + rng.normal(0, 100, n)
    )
    frame.loc[: missing - 1, "customer_satisfaction_speed"] = np.nan  # as the LEFT JOIN leaves them
    return frame


def test_features_are_split_scaled_and_encoded():
    features = ml.engineer_features(satisfaction_table(), test_size=0.25, seed=1)
    train, test = features["train"], features["test"]
    assert (len(train), len(test)) == (300, 100)
    assert list(train.columns) == [*ml.NUMERIC_FEATURES, "product_type_premium", ml.TARGET]
    assert train[ml.NUMERIC_FEATURES].mean().abs().max() < 1e-9
    assert np.allclose(train[ml.NUMERIC_FEATURES].std(ddof=0), 1)
    assert set(train["product_type_premium"]) == {0.0, 1.0}


def test_rows_without_survey_answers_are_dropped():
    features = ml.engineer_features(satisfaction_table(missing=40), test_size=0.25, seed=1)
    assert len(features["train"]) + len(features["test"]) == 360
    assert not features["train"].isna().any().any()


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="only 5 complete rows in model_satisfaction"):
        ml.engineer_features(satisfaction_table(n=5))


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['product_type'\]"):
        ml.engineer_features(satisfaction_table().drop(columns=["product_type"]))


def test_features_survive_the_astro_xcom_round_trip():
    """Astro stores DataFrames in XCom as JSON; read_json may reorder rows, so X and y travel in one frame."""
    from astro.dataframes.pandas import PandasDataframe

    features = ml.engineer_features(satisfaction_table(), seed=3)
    round_trip = {k: PandasDataframe.deserialize(PandasDataframe(v).serialize(), 1) for k, v in features.items()}
    result = ml.train_model(round_trip, "sklearn.linear_model.LinearRegression")
    assert result["r2_test"] > 0.99


@pytest.mark.parametrize(
    "model_class, hyper_parameters",
    [
        ("sklearn.linear_model.LinearRegression", {}),
        ("sklearn.linear_model.RidgeCV", {"alphas": [0.1, 1.0]}),
        ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 20, "random_state": 0}),
    ],
)
def test_train_model_learns_the_relation(model_class, hyper_parameters):
    features = ml.engineer_features(satisfaction_table(), seed=2)
    result = ml.train_model(features, model_class, hyper_parameters)
    assert result["model"] == model_class.rsplit(".", 1)[1]
    assert result["r2_test"] > 0.95 and result["r2_train"] > 0.95
    assert result["fit_seconds"] >= 0
    assert len(result["y_test"]) == len(result["y_pred_test"]) == len(features["test"])
    assert set(result["feature_importance"]) == set(features["train"].columns) - {ml.TARGET}


def test_train_model_names_an_unknown_class():
    features = ml.engineer_features(satisfaction_table(), seed=2)
    with pytest.raises(AttributeError, match="NoSuchRegressor"):
        ml.train_model(features, "sklearn.linear_model.NoSuchRegressor")


def test_plot_writes_a_png(tmp_path):
    features = ml.engineer_features(satisfaction_table(), seed=2)
    result = ml.train_model(features, "sklearn.linear_model.LinearRegression")
    path = ml.plot_model_results(result, tmp_path / "plots")
    assert path == str(tmp_path / "plots" / "LinearRegression.png")
    data = (tmp_path / "plots" / "LinearRegression.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
