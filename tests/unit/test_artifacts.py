import hashlib
import io
import json
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from model_tables import BOOSTING, LINEAR, satisfaction_table, train

from include.finance import artifacts, ml, plots
from include.finance.config import settings

BUCKET = settings.data_bucket_name


class FakeS3:
    """Records what S3Hook.load_bytes would write."""

    def __init__(self):
        self.objects = {}

    def load_bytes(self, data, key, bucket_name, replace):
        assert replace, "a retried task rewrites its files"
        self.objects[(bucket_name, key)] = data


def trained():
    features = ml.engineer_features(satisfaction_table(missing=10), seed=2)
    return features, [train(features, LINEAR, "LinearRegression"), train(features, BOOSTING, "GradientBoosting")]


def test_model_card_describes_data_metrics_and_versions():
    features, results = trained()
    best = ml.select_best(results)
    card = artifacts.model_card(best, results, features["rows"], {"ds": "2026-11-20"},
                                {"model": "s3://b/k/model.joblib"}, b"model bytes")
    assert card["model"] == "LinearRegression" and card["metrics"]["cv_r2"] == best["cv_r2"]
    assert card["model_sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    assert card["rows"]["without_survey"] == 10 and card["data"] == {"ds": "2026-11-20"}
    assert set(card["all_models"]) == {"LinearRegression", "GradientBoosting"}
    assert card["features"] == {"numeric (standard-scaled)": ml.NUMERIC_FEATURES, "categorical (one-hot)": ["product_type"]}
    assert card["libraries"]["scikit-learn"] == __import__("sklearn").__version__
    json.dumps(card)


def test_publish_uploads_the_best_model_and_its_card_under_the_runs_prefix(capsys):
    features, results = trained()
    event = SimpleNamespace(timestamp=datetime(2026, 11, 21, tzinfo=timezone.utc), source_dag_id="finance_elt",
                            source_run_id="scheduled__2026-11-20", extra={"ds": "2026-11-20"})
    older = SimpleNamespace(timestamp=datetime(2026, 11, 20, tzinfo=timezone.utc), source_dag_id="finance_elt",
                            source_run_id="manual__old", extra={"ds": "2026-11-19"})
    s3 = FakeS3()
    card = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20",
                                        {settings.model_satisfaction_dataset_uri: [event, older]}, s3=s3)
    prefix = f"{settings.ml_artifacts_prefix}/20261121T000000/"
    assert set(s3.objects) == {(BUCKET, prefix + name) for name in ("model.joblib", "model_card.json",
                                                                      "training_rows.csv.gz")}
    assert json.loads(s3.objects[(BUCKET, prefix + "model_card.json")]) == card
    assert card["run_id"] == "run_1" and card["model"] == ml.select_best(results)["model"]
    assert card["version"] == "20261121T000000"  # the registry's name of the model
    training = pd.read_csv(io.BytesIO(s3.objects[(BUCKET, prefix + "training_rows.csv.gz")]), compression="gzip")
    assert training.equals(features["train"][ml.FEATURES])  # what the drift monitoring compares later days with
    assert card["data"] == {"table": f"{settings.db_schema}.model_satisfaction",
                            "built_by": "finance_elt run scheduled__2026-11-20", "ds": "2026-11-20"}
    assert card["artifacts"]["model"] == f"s3://{BUCKET}/{prefix}model.joblib"
    model = ml.load_model(s3.objects[(BUCKET, prefix + "model.joblib")], card)  # the uploaded bytes match the card
    test = features["test"]
    assert np.isclose(model.score(test[ml.FEATURES], test[ml.TARGET]), card["metrics"]["r2_test"])
    assert "best model LinearRegression" in capsys.readouterr().out


def test_a_manual_run_says_so():
    assert artifacts.source_of(None) == artifacts.source_of({}) == {"built_by": "unknown (manual run)"}


def test_a_plot_is_uploaded_as_a_png_under_the_runs_plots():
    _, results = trained()
    s3 = FakeS3()
    uri = artifacts.upload_plot(plots.model_comparison(results), "comparison", "20261121T000000", s3=s3)
    key = f"{settings.ml_artifacts_prefix}/20261121T000000/plots/comparison.png"
    assert uri == f"s3://{BUCKET}/{key}"
    assert s3.objects[(BUCKET, key)][:8] == b"\x89PNG\r\n\x1a\n"


def event(ds, hour):
    return SimpleNamespace(timestamp=datetime(2026, 11, 21, hour, tzinfo=timezone.utc), source_dag_id="finance_elt",
                           source_run_id=f"scheduled__{ds}", extra={"ds": ds})


def test_the_day_is_the_dataset_events_or_for_a_manual_run_its_conf_or_the_newest_in_the_table(caplog):
    uri = settings.model_satisfaction_dataset_uri
    newest = lambda: "2026-11-30"  # noqa: E731
    assert artifacts.day_of({uri: [event("2026-11-20", 1)]}, {}, newest) == "2026-11-20"
    assert artifacts.day_of(None, {"ds": "2026-11-25"}, newest) == "2026-11-25"
    assert artifacts.day_of(None, {}, newest) == "2026-11-30"
    with pytest.raises(ValueError, match="has no day yet: run finance_elt first"):
        artifacts.day_of({}, None, lambda: None)
    with pytest.raises(ValueError, match="the run's conf ds must be a day like 2026-11-30, got 'yesterday'"):
        artifacts.day_of(None, {"ds": "yesterday"}, newest)


def test_a_run_triggered_for_several_days_says_which_it_leaves_out(caplog):
    events = {settings.model_satisfaction_dataset_uri: [event("2026-11-21", 2), event("2026-11-20", 1)]}
    assert artifacts.day_of(events, None, lambda: "2026-11-30") == "2026-11-21"
    assert "works on 2026-11-21 and leaves out 2026-11-20; trigger finance_ml" in caplog.text


class FakeBucket(FakeS3):
    def get_key(self, key, bucket_name):
        return SimpleNamespace(get=lambda: {"Body": io.BytesIO(self.objects[(bucket_name, key)])})


def test_a_registered_model_loads_only_with_its_registered_sha256():
    features, results = trained()
    s3 = FakeBucket()
    card = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", s3=s3)
    entry = {"artifact_uri": card["artifacts"]["model"], "model_sha256": card["model_sha256"],
             "training_rows_uri": card["artifacts"]["training_rows"]}
    model = artifacts.load_registered(entry, s3=s3)
    assert np.isclose(model.score(features["test"][ml.FEATURES], features["test"][ml.TARGET]), card["metrics"]["r2_test"])
    assert artifacts.training_rows(entry, s3=s3).equals(features["train"][ml.FEATURES])
    with pytest.raises(ValueError, match="refusing to load"):
        artifacts.load_registered({**entry, "model_sha256": "0" * 64}, s3=s3)
    with pytest.raises(OSError, match="cannot read s3://.*/nothing.joblib: "):
        artifacts.load_registered({**entry, "artifact_uri": f"s3://{BUCKET}/nothing.joblib"}, s3=s3)


def test_a_registered_version_is_never_replaced_by_other_bytes():
    features, results = trained()
    s3 = FakeS3()
    card = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", s3=s3)
    again = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", s3=s3,
                                         registered_sha256=card["model_sha256"])  # a rerun on the same rows
    assert again["model_sha256"] == card["model_sha256"]
    before = dict(s3.objects)
    with pytest.raises(ValueError, match="model version 20261121T000000 is registered with SHA-256 0{64}, this run's "
                                         "model has [0-9a-f]{64}: the day's data changed since"):
        artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", s3=s3,
                                     registered_sha256="0" * 64)
    assert s3.objects == before  # nothing uploaded
