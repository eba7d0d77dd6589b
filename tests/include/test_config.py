import importlib

import pandas as pd
import pytest

from include.finance import config


@pytest.fixture
def reload_config(monkeypatch):
    def reload(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config)

    yield reload
    monkeypatch.undo()
    importlib.reload(config)


def test_defaults(reload_config):
    cfg = reload_config()
    assert (cfg.ENVIRONMENT, cfg.AWS_CONN_ID, cfg.DB_CONN_ID) == ("local", "aws_default", "postgres_default")
    assert cfg.INPUT_DATA_DIR is None
    assert "@" not in cfg.MODEL_SATISFACTION_DATASET_URI  # an astro-style user@ URI never fires on 2.11


def test_env_overrides_are_cast(reload_config):
    cfg = reload_config(POKE_INTERVAL="7", MOCK_DATA_SCALE="2.5", ENVIRONMENT="PROD", INPUT_DATA_DIR="/data/in",
                        TRAINING_IMAGE="registry/img:1", K8S_IMAGE_PULL_SECRETS=" a, ,b ")
    assert cfg.POKE_INTERVAL == 7 and cfg.MOCK_DATA_SCALE == 2.5 and cfg.ENVIRONMENT == "prod"
    assert str(cfg.INPUT_DATA_DIR) == "/data/in"
    assert cfg.TRAINING_IMAGE == "registry/img:1" and cfg.K8S_IMAGE_PULL_SECRETS == ("a", "b")


def test_prod_pods_run_the_astro_deployments_own_image_in_its_namespace(reload_config):
    cfg = reload_config(ENVIRONMENT="prod", ASTRONOMER_AIRFLOW_IMAGE="images.astronomer.cloud/o/d:deploy-7",
                        AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE="astronomer-d")
    assert (cfg.TRAINING_IMAGE, cfg.K8S_NAMESPACE) == ("images.astronomer.cloud/o/d:deploy-7", "astronomer-d")
    assert cfg.K8S_IMAGE_PULL_SECRETS == ("image-pull-secret", "per-dp-registry-pull-secret")


@pytest.mark.parametrize(
    "env, message",
    [
        ({"POKE_INTERVAL": "soon"}, "POKE_INTERVAL must be an integer, got 'soon'"),
        ({"MOCK_DATA_SCALE": "big"}, "MOCK_DATA_SCALE must be a number, got 'big'"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT must be 'local' or 'prod', got 'staging'"),
        ({"ENVIRONMENT": "prod", "ASTRONOMER_AIRFLOW_IMAGE": ""}, "ENVIRONMENT=prod trains in Kubernetes pods: set TRAINING_IMAGE"),
    ],
)
def test_bad_values_are_named(reload_config, env, message):
    with pytest.raises(ValueError, match=message):
        reload_config(**env)


def test_models_are_declared_once_and_reproducible():
    import numpy as np

    from include.finance import ml

    names = [m["name"] for m in config.MODELS]
    assert len(names) == len(set(names)) >= 6
    # the reference project's four models are among them
    classes = {m["model_class"].rsplit(".", 1)[1] for m in config.MODELS}
    assert {"RandomForestRegressor", "LinearRegression", "RidgeCV", "Lasso"} <= classes
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f: rng.integers(0, 11, 200) for f in ml.NUMERIC_FEATURES}).assign(
        product_type=rng.choice(["basic", "premium"], 200))
    y = 1000 + 100 * X["customer_satisfaction_speed"] + rng.gamma(2, 100, 200)
    for spec in config.MODELS:
        assert set(spec) == {"name", "model_class", "hyper_parameters"}
        first, second = (ml.build_pipeline(spec["model_class"], spec["hyper_parameters"]).fit(X, y).predict(X)
                         for _ in range(2))
        assert np.array_equal(first, second), f"{spec['name']} is not reproducible: set its random_state"
