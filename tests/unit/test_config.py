import datetime as dt

import numpy as np
import pandas as pd
import pytest

from include.finance.config import Settings
from include.finance.schema import model_satisfaction_uri


def test_defaults_are_the_local_profile():
    s = Settings.from_env({})
    assert (s.environment, s.aws_conn_id, s.db_conn_id, s.db_schema) == ("local", "aws_default", "postgres_default", "public")
    assert s.input_data_dir is None and not s.train_in_pods
    # the dataset names the real database of the profile, without user@ (an astro-style URI never fires on 2.11)
    assert model_satisfaction_uri(s) == "postgres://127.0.0.1:25432/finance/public/model_satisfaction"
    assert s.astro_sdk_env() == {"AIRFLOW__ASTRO_SDK__XCOM_STORAGE_CONN_ID": "aws_default",
                                 "AIRFLOW__ASTRO_SDK__XCOM_STORAGE_URL": "s3://finance-elt-ml-data/xcom"}


def test_each_profile_names_its_own_database_and_the_schema_is_honoured():
    docker = Settings.from_env({"ENVIRONMENT": "docker", "DB_SCHEMA": "finance"})
    assert model_satisfaction_uri(docker) == "postgres://postgres_data:5432/postgres/finance/model_satisfaction"
    prod = Settings.from_env({"ENVIRONMENT": "prod", "DB_HOST": "db.internal", "DB_NAME": "warehouse",
                              "TRAINING_IMAGE": "registry/img:1"})
    assert prod.train_in_pods and model_satisfaction_uri(prod).startswith("postgres://db.internal:5432/warehouse/")


def test_env_overrides_are_cast():
    s = Settings.from_env({"POKE_INTERVAL": "7", "MOCK_DATA_SCALE": "2.5", "ENVIRONMENT": "PROD", "INPUT_DATA_DIR": "/data/in",
                           "TRAINING_IMAGE": "registry/img:1", "K8S_IMAGE_PULL_SECRETS": " a, ,b ", "DB_HOST": "h",
                           "DB_NAME": "d", "MODEL_CURRENCY": "EUR", "DATA_BUCKET_NAME": "b"})
    assert s.poke_interval == 7 and s.mock_data_scale == 2.5 and s.environment == "prod"
    assert str(s.input_data_dir) == "/data/in" and s.model_currency == "eur"
    assert s.training_image == "registry/img:1" and s.k8s_image_pull_secrets == ("a", "b")
    assert s.xcom_storage_url == "s3://b/xcom"
    assert Settings.from_env({}).shift_from is None
    assert [m["name"] for m in Settings.from_env({"ML_MODELS": "PoissonGLM, Lasso"}).models] == ["Lasso", "PoissonGLM"]
    assert len(Settings.from_env({}).models) == 7
    assert Settings.from_env({"MOCK_DATA_SHIFT_FROM": "2026-01-03"}).shift_from == dt.date(2026, 1, 3)


def test_prod_pods_run_the_astro_deployments_own_image_in_its_namespace():
    s = Settings.from_env({"ENVIRONMENT": "prod", "DB_HOST": "h", "DB_NAME": "d",
                           "ASTRONOMER_AIRFLOW_IMAGE": "images.astronomer.cloud/o/d:deploy-7",
                           "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "astronomer-d"})
    assert (s.training_image, s.k8s_namespace) == ("images.astronomer.cloud/o/d:deploy-7", "astronomer-d")
    assert s.k8s_image_pull_secrets == ("image-pull-secret", "per-dp-registry-pull-secret")


@pytest.mark.parametrize(
    "env, message",
    [
        ({"POKE_INTERVAL": "soon"}, "POKE_INTERVAL must be an integer, got 'soon'"),
        ({"MOCK_DATA_SCALE": "big"}, "MOCK_DATA_SCALE must be a number, got 'big'"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT must be one of local, docker, prod, got 'staging'"),
        ({"ENVIRONMENT": "prod", "TRAINING_IMAGE": "i"}, "ENVIRONMENT=prod: set DB_HOST"),
        ({"ENVIRONMENT": "prod", "DB_HOST": "h", "DB_NAME": "d"}, "ENVIRONMENT=prod trains in Kubernetes pods: set TRAINING_IMAGE"),
        ({"ML_MODELS": "PoissonGLM, XGBoost"}, "ML_MODELS names unknown model\\(s\\) XGBoost; the models are RandomForest, "),
        ({"MOCK_DATA_SHIFT_FROM": "3 Jan"}, "MOCK_DATA_SHIFT_FROM must be a date like 2026-01-03, got '3 Jan'"),
        ({"DB_SCHEMA": "Finance Data"}, "DB_SCHEMA must be a lower-case SQL name .*, got 'Finance Data'"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_models_are_declared_once_and_reproducible():
    from include.finance.training import ml

    models = Settings.from_env({}).models
    names = [m["name"] for m in models]
    assert len(names) == len(set(names)) >= 6
    # the reference project's four models are among them
    classes = {m["model_class"].rsplit(".", 1)[1] for m in models}
    assert {"RandomForestRegressor", "LinearRegression", "RidgeCV", "Lasso"} <= classes
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f: rng.integers(0, 11, 200) for f in ml.NUMERIC_FEATURES}).assign(
        product_type=rng.choice(["basic", "premium"], 200))
    y = 1000 + 100 * X["customer_satisfaction_speed"] + rng.gamma(2, 100, 200)
    for spec in models:
        assert set(spec) == {"name", "model_class", "hyper_parameters"}
        first, second = (ml.build_pipeline(spec["model_class"], spec["hyper_parameters"]).fit(X, y).predict(X)
                         for _ in range(2))
        assert np.array_equal(first, second), f"{spec['name']} is not reproducible: set its random_state"


def test_tasks_are_retried_task_retry_delay_apart(monkeypatch):
    from datetime import timedelta

    from include.finance import dag_defaults

    assert Settings.from_env({}).task_retry_delay == 30
    monkeypatch.setattr(dag_defaults, "settings", Settings.from_env({"TASK_RETRY_DELAY": "7"}))
    assert dag_defaults.default_args("owner")["retry_delay"] == timedelta(seconds=7)
