import importlib

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
    assert cfg.MOCK_DATA_DIR == cfg.PROJECT_ROOT / "include" / "mock_data"
    assert cfg.INPUT_DATA_DIR is None
    assert "@" not in cfg.MODEL_SATISFACTION_DATASET_URI  # an astro-style user@ URI never fires on 2.11


def test_env_overrides_are_cast(reload_config):
    cfg = reload_config(POKE_INTERVAL="7", MOCK_DATA_SCALE="2.5", ENVIRONMENT="PROD", INPUT_DATA_DIR="/data/in",
                        PLOTS_DIR="out/plots")
    assert cfg.POKE_INTERVAL == 7 and cfg.MOCK_DATA_SCALE == 2.5 and cfg.ENVIRONMENT == "prod"
    assert str(cfg.INPUT_DATA_DIR) == "/data/in"
    assert cfg.PLOTS_DIR == cfg.PROJECT_ROOT / "out" / "plots"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"POKE_INTERVAL": "soon"}, "POKE_INTERVAL must be an integer, got 'soon'"),
        ({"MOCK_DATA_SCALE": "big"}, "MOCK_DATA_SCALE must be a number, got 'big'"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT must be 'local' or 'prod', got 'staging'"),
    ],
)
def test_bad_values_are_named(reload_config, env, message):
    with pytest.raises(ValueError, match=message):
        reload_config(**env)


def test_models_are_declared_once():
    classes = [m["model_class"] for m in config.MODELS]
    assert len(classes) == len(set(classes)) >= 4
    for name in ("RandomForestRegressor", "LinearRegression", "RidgeCV", "Lasso"):
        assert any(c.endswith("." + name) for c in classes)
