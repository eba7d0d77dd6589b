"""`tracking.load_model` on an MLflow model saved on this machine, as `tracking.log_model_run` saves it before it
logs it: MLflow's own save and load, no server (tests/db/test_mlflow.py has the server)."""

import hashlib
import re

import numpy as np
import pytest
from model_tables import Kept, satisfaction_table, train

import mlflow
from include.finance.training import ml, tracking


@pytest.fixture
def no_server(monkeypatch):
    """MLflow's client on a tracking URI where nothing answers: a model on this machine needs none."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return mlflow.MlflowClient("http://127.0.0.1:9", "http://127.0.0.1:9")


@pytest.fixture
def saved_model(tmp_path):
    """A trained model's Pipeline, saved as an MLflow model, its folder, the SHA-256 of its model.pkl and test rows."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    kept = Kept()
    train(features, keep=kept)
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(kept.pipeline, folder, serialization_format="cloudpickle", input_example=kept.example,
                              pip_requirements=tracking.pip_requirements())
    sha256 = hashlib.sha256((folder / tracking.MODEL_FILE).read_bytes()).hexdigest()
    return kept.pipeline, folder, sha256, features["test"][ml.FEATURES]


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mlflow.sklearn.load_model was reached")

    monkeypatch.setattr(mlflow.sklearn, "load_model", refuse)


def test_a_model_whose_model_pkl_has_its_recorded_sha256_is_loaded_and_serves_raw_features(no_server, saved_model):
    pipeline, folder, sha256, raw = saved_model
    model = tracking.load_model(no_server, str(folder), sha256, "version 1")
    assert np.allclose(model.predict(raw), pipeline.predict(raw))


def test_a_tampered_model_pkl_is_refused_before_it_is_unpickled(no_server, saved_model, no_unpickling):
    _, folder, sha256, _ = saved_model
    tampered = bytearray((folder / tracking.MODEL_FILE).read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    (folder / tracking.MODEL_FILE).write_bytes(tampered)
    digest = hashlib.sha256(tampered).hexdigest()
    with pytest.raises(ValueError, match=rf"^{re.escape(str(folder))} \(model.pkl\) has SHA-256 {digest} but version 1 "
                                         rf"says {sha256}: refusing to load it$"):
        tracking.load_model(no_server, str(folder), sha256, "version 1")


def test_a_model_without_a_recorded_sha256_is_refused_before_it_is_unpickled(no_server, saved_model, no_unpickling):
    _, folder, _, _ = saved_model
    with pytest.raises(ValueError, match=rf"^version 1 has no finance.model_sha256: refusing to load "
                                         rf"{re.escape(str(folder))} \(model.pkl\) unverified$"):
        tracking.load_model(no_server, str(folder), None, "version 1")
