"""The unit tests' shared fixtures: the day's objects on moto's S3 and the recorded load (input_fixtures.py), and
MLflow's URIs kept to the test that set them."""

import os

import pytest

from tests.unit.input_fixtures import recorded_loads, s3  # noqa: F401

# `mlflow.set_tracking_uri` and `set_registry_uri` write these into the environment, which every process started
# later inherits: with FINANCE_TEST_BACKFILL=last the backfill's stack runs after this layer in the same session,
# and its tasks would log to a unit test's tracking URI (http://127.0.0.1:9, where nothing answers)
MLFLOW_URIS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _mlflow_uris_stay_in_the_test():
    before = {name: os.environ.get(name) for name in MLFLOW_URIS}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
