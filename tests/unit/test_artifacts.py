import contextlib
import gzip
import hashlib
import io
import json
import re
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
    rows_bytes = s3.objects[(BUCKET, prefix + "training_rows.csv.gz")]
    assert card["training_rows_sha256"] == hashlib.sha256(rows_bytes).hexdigest()
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
             "training_rows_uri": card["artifacts"]["training_rows"],
             "training_rows_sha256": card["training_rows_sha256"]}
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
                                         registered_sha256=card["model_sha256"],  # a rerun on the same rows
                                         registered_rows_sha256=card["training_rows_sha256"])
    assert again["model_sha256"] == card["model_sha256"]
    assert again["training_rows_sha256"] == card["training_rows_sha256"]
    before = dict(s3.objects)
    for what, registered in (("model", {"registered_sha256": "0" * 64}),
                             ("training rows", {"registered_rows_sha256": "0" * 64})):
        with pytest.raises(ValueError, match="model version 20261121T000000 is registered with SHA-256 0{64}, this "
                                             f"run's {what} has [0-9a-f]{{64}}: the day's data changed since"):
            artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", s3=s3,
                                         **registered)
    assert s3.objects == before  # nothing uploaded


def published_linear_model():
    """One model published to a fake bucket, its registry entry (`registry.candidate_of` its card) and the bucket."""
    from include.finance import registry

    features = ml.engineer_features(satisfaction_table(), seed=2)
    s3 = FakeBucket()
    card = artifacts.publish_best_model(features, [train(features, LINEAR, "LinearRegression")], "run_1",
                                        "20261121T000000", "2026-11-20", s3=s3)
    return features, registry.candidate_of(card), s3


def tamper(s3, uri: str) -> None:
    """Another gzip'd CSV of the same columns: a later day's population, as someone with write access to the bucket
    could put in place of the training rows to hide a drift."""
    frame = pd.read_csv(io.BytesIO(artifacts.read(uri, s3)), compression="gzip").assign(product_type="premium")
    s3.objects[(BUCKET, uri.removeprefix(f"s3://{BUCKET}/"))] = gzip.compress(frame.to_csv(index=False).encode())


def test_training_rows_are_read_only_with_their_registered_sha256():
    features, entry, s3 = published_linear_model()
    assert entry["training_rows_sha256"] == hashlib.sha256(artifacts.read(entry["training_rows_uri"], s3)).hexdigest()
    assert artifacts.training_rows(entry, s3=s3).equals(features["train"][ml.FEATURES])
    tamper(s3, entry["training_rows_uri"])
    digest = hashlib.sha256(artifacts.read(entry["training_rows_uri"], s3)).hexdigest()
    with pytest.raises(ValueError, match=rf"^{re.escape(entry['training_rows_uri'])} has SHA-256 {digest} but the "
                                         rf"model registry says {entry['training_rows_sha256']}: refusing to measure "
                                         "drift against it$"):
        artifacts.training_rows(entry, s3=s3)
    with pytest.raises(ValueError, match="^the model registry has no training_rows_sha256: refusing to measure drift "
                                         f"against {re.escape(entry['training_rows_uri'])} unverified$"):
        artifacts.training_rows({**entry, "training_rows_sha256": None}, s3=s3)


@contextlib.contextmanager
def no_database():
    yield None


@pytest.fixture
def monitor(monkeypatch):
    """`production.monitor` of the day `features` for the registered `champion` in the fake bucket `s3`;
    returns the rows it would store."""
    from include.finance import production, registry

    def run(features, champion, s3):
        monkeypatch.setattr(production, "db_connection", no_database)
        monkeypatch.setattr(registry, "incumbent", lambda conn, schema, version: champion)
        monkeypatch.setattr(artifacts, "s3_hook", lambda: s3)
        monkeypatch.setattr(production.monitoring, "store", lambda conn, schema, ds, run_id, rows: len(rows))
        return production.monitor(features, "20261122T000000", "2026-11-21", "run_2", {})

    return run


def test_the_champions_tampered_training_rows_are_refused_before_drift_is_measured(monitor, monkeypatch):
    features, champion, s3 = published_linear_model()
    rows = monitor(features, champion, s3)
    assert {r["metric"] for r in rows} == {"r2", "psi", "ks"}
    tamper(s3, champion["training_rows_uri"])
    monkeypatch.setattr("include.finance.drift.feature_drift", lambda *args: pytest.fail("drift measured"))
    with pytest.raises(ValueError, match="training_rows.csv.gz has SHA-256 [0-9a-f]{64} but the model registry says"):
        monitor(features, champion, s3)


def test_a_champion_registered_before_its_rows_digest_was_recorded_is_monitored_on_its_r2_only(monitor, caplog):
    features, champion, s3 = published_linear_model()
    rows = monitor(features, {**champion, "training_rows_sha256": None}, s3)
    assert [r["metric"] for r in rows] == ["r2"]
    assert "registered before the SHA-256 of its training rows was recorded: its drift is not measured" in caplog.text
