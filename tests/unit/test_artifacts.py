import contextlib
import gzip
import hashlib
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from model_tables import BOOSTING, LINEAR, Kept, satisfaction_table, train

from include.finance import schema
from include.finance.config import settings
from include.finance.training import artifacts, ml, plots, tracking

BUCKET = settings.data_bucket_name
DAY_RUN = {"run_id": "day-run", "experiment_id": "7"}


class FakeS3:
    """Records what S3Hook.load_bytes would write."""

    def __init__(self):
        self.objects = {}

    def load_bytes(self, data, key, bucket_name, replace):
        assert replace, "a retried task rewrites its files"
        self.objects[(bucket_name, key)] = data


def logged(run_id: str) -> Kept:
    """What tracking.log_model_run adds to a model's result, for a model logged as nested run `run_id`."""
    return Kept(mlflow_run_id=run_id, model_uri=f"mlflow-artifacts:/7/{run_id}/artifacts/model",
                model_sha256=hashlib.sha256(run_id.encode()).hexdigest())


def trained():
    features = ml.engineer_features(satisfaction_table(missing=10), seed=2)
    return features, [train(features, BOOSTING, "GradientBoosting", keep=logged("boosting-run")),
                      train(features, LINEAR, "LinearRegression", keep=logged("linear-run"))]


def test_model_card_describes_data_metrics_versions_and_the_models_place_in_mlflow():
    features, results = trained()
    best = ml.select_best(results)
    card = artifacts.model_card(best, results, features["rows"], {"ds": "2026-11-20"},
                                {"model_card": "s3://b/k/model_card.json"})
    assert card["model"] == "LinearRegression" and card["metrics"]["cv_r2"] == best["cv_r2"]
    assert card["mlflow"] == {"run_id": "linear-run", "model_uri": "mlflow-artifacts:/7/linear-run/artifacts/model"}
    assert card["model_sha256"] == hashlib.sha256(b"linear-run").hexdigest()
    assert card["rows"]["without_survey"] == 10 and card["data"] == {"ds": "2026-11-20"}
    assert set(card["all_models"]) == {"LinearRegression", "GradientBoosting"}
    assert card["features"] == {"numeric (standard-scaled)": ml.NUMERIC_FEATURES, "categorical (one-hot)": ["product_type"]}
    assert card["libraries"]["scikit-learn"] == __import__("sklearn").__version__
    json.dumps(card)


def test_publish_uploads_only_the_best_models_card_and_training_rows_under_the_runs_prefix(capsys, monkeypatch):
    """The model itself is in MLflow, logged by its training task: nothing is fitted again, no model file uploaded."""
    features, results = trained()
    event = SimpleNamespace(timestamp=datetime(2026, 11, 21, tzinfo=timezone.utc), source_dag_id="finance_elt",
                            source_run_id="scheduled__2026-11-20", extra={"ds": "2026-11-20"})
    older = SimpleNamespace(timestamp=datetime(2026, 11, 20, tzinfo=timezone.utc), source_dag_id="finance_elt",
                            source_run_id="manual__old", extra={"ds": "2026-11-19"})
    s3 = FakeS3()
    monkeypatch.setattr(ml, "build_pipeline", lambda *args, **kwargs: pytest.fail("a model was fitted again"))
    card = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", DAY_RUN,
                                        {schema.model_satisfaction_uri(): [event, older]}, s3=s3)
    prefix = f"{settings.ml_artifacts_prefix}/20261121T000000/"
    assert set(s3.objects) == {(BUCKET, prefix + name) for name in ("model_card.json", "training_rows.csv.gz")}
    assert json.loads(s3.objects[(BUCKET, prefix + "model_card.json")]) == card
    assert card["run_id"] == "run_1" and card["model"] == ml.select_best(results)["model"] == "LinearRegression"
    assert card["version"] == "20261121T000000"  # the run key the registry finds its version by
    assert card["mlflow"] == {"run_id": "linear-run", "model_uri": "mlflow-artifacts:/7/linear-run/artifacts/model",
                              "day_run_id": "day-run", "experiment_id": "7"}
    assert card["model_sha256"] == hashlib.sha256(b"linear-run").hexdigest()
    training = pd.read_csv(io.BytesIO(s3.objects[(BUCKET, prefix + "training_rows.csv.gz")]), compression="gzip")
    assert training.equals(features["train"][ml.FEATURES])  # what the drift monitoring compares later days with
    assert card["data"] == {"table": f"{settings.db_schema}.model_satisfaction",
                            "built_by": "finance_elt run scheduled__2026-11-20", "ds": "2026-11-20"}
    assert card["artifacts"] == {name: f"s3://{BUCKET}/{prefix}{path}" for name, path in (
        ("model_card", "model_card.json"), ("plots", "plots/"), ("training_rows", "training_rows.csv.gz"))}
    rows_bytes = s3.objects[(BUCKET, prefix + "training_rows.csv.gz")]
    assert card["training_rows_sha256"] == hashlib.sha256(rows_bytes).hexdigest()
    assert "best model LinearRegression: cv_r2 " in capsys.readouterr().out


def test_a_manual_run_says_so():
    assert artifacts.source_of(None) == artifacts.source_of({}) == {"built_by": "unknown (manual run)"}


def test_a_plot_is_uploaded_as_a_png_under_the_runs_plots_and_without_a_run_id_not_to_mlflow(monkeypatch):
    _, results = trained()
    s3 = FakeS3()
    monkeypatch.setattr(tracking, "client", lambda: pytest.fail("MLflow was reached"))
    uri = artifacts.upload_plot(plots.model_comparison(results), "comparison", "20261121T000000", s3=s3)
    key = f"{settings.ml_artifacts_prefix}/20261121T000000/plots/comparison.png"
    assert uri == f"s3://{BUCKET}/{key}"
    assert s3.objects[(BUCKET, key)][:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def local_mlflow(tmp_path, monkeypatch):
    """MLflow's client on a tracking store of the test's own in a SQLite file: MLflow without a server."""
    for name in tracking.CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tracking.client()


def test_a_plot_with_a_run_id_is_the_same_png_on_that_mlflow_run(local_mlflow, tmp_path):
    _, results = trained()
    s3 = FakeS3()
    experiment = local_mlflow.create_experiment("plots", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = local_mlflow.create_run(experiment).info.run_id
    artifacts.upload_plot(plots.model_comparison(results), "comparison", "20261121T000000", s3=s3,
                          mlflow_run_id=run_id)
    logged_png = Path(local_mlflow.download_artifacts(run_id, "plots/comparison.png", str(tmp_path))).read_bytes()
    assert logged_png == s3.objects[(BUCKET, f"{settings.ml_artifacts_prefix}/20261121T000000/plots/comparison.png")]


def event(ds, hour):
    return SimpleNamespace(timestamp=datetime(2026, 11, 21, hour, tzinfo=timezone.utc), source_dag_id="finance_elt",
                           source_run_id=f"scheduled__{ds}", extra={"ds": ds})


def test_the_day_is_the_dataset_events_or_for_a_manual_run_its_conf_or_the_newest_in_the_table(caplog):
    uri = schema.model_satisfaction_uri()
    newest = lambda: "2026-11-30"  # noqa: E731
    assert artifacts.day_of({uri: [event("2026-11-20", 1)]}, {}, newest) == "2026-11-20"
    assert artifacts.day_of(None, {"ds": "2026-11-25"}, newest) == "2026-11-25"
    assert artifacts.day_of(None, {}, newest) == "2026-11-30"
    with pytest.raises(ValueError, match="has no day yet: run finance_elt first"):
        artifacts.day_of({}, None, lambda: None)
    with pytest.raises(ValueError, match="the run's conf ds must be a day like 2026-11-30, got 'yesterday'"):
        artifacts.day_of(None, {"ds": "yesterday"}, newest)


def test_a_run_triggered_for_several_days_says_which_it_leaves_out(caplog):
    events = {schema.model_satisfaction_uri(): [event("2026-11-21", 2), event("2026-11-20", 1)]}
    assert artifacts.day_of(events, None, lambda: "2026-11-30") == "2026-11-21"
    assert "works on 2026-11-21 and leaves out 2026-11-20; trigger finance_ml" in caplog.text


class FakeBucket(FakeS3):
    def get_key(self, key, bucket_name):
        return SimpleNamespace(get=lambda: {"Body": io.BytesIO(self.objects[(bucket_name, key)])})


def test_a_rerun_whose_training_rows_differ_from_its_registered_models_is_refused():
    features, results = trained()
    s3 = FakeS3()
    card = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", DAY_RUN, s3=s3)
    again = artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", DAY_RUN, s3=s3,
                                         registered_rows_sha256=card["training_rows_sha256"])  # the same rows
    assert again == card
    before = dict(s3.objects)
    with pytest.raises(ValueError, match="^the model of run 20261121T000000 is registered with training rows of "
                                         "SHA-256 0{64}, this run's have [0-9a-f]{64}: the day's data changed since"):
        artifacts.publish_best_model(features, results, "run_1", "20261121T000000", "2026-11-20", DAY_RUN, s3=s3,
                                     registered_rows_sha256="0" * 64)
    assert s3.objects == before  # nothing uploaded


def registered(card: dict) -> dict:
    """The registry's entry of a published card's model: its version as MLflow's registry hands it back, with the
    tags `registry.register` gives it (`registry.entry_of`)."""
    from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

    from include.finance.production import registry

    candidate = registry.candidate_of(card)
    tags = [ModelVersionTag(registry.PREFIX + name, str(candidate[name])) for name in registry.FIELDS]
    return registry.entry_of(ModelVersion(settings.mlflow_registered_model, "1", 0, run_id=candidate["mlflow_run_id"],
                                          tags=tags, aliases=[registry.CHAMPION]))


def published_linear_model():
    """One model published to a fake bucket: the features, its registry entry, the bucket and its fitted Pipeline."""
    features = ml.engineer_features(satisfaction_table(), seed=2)
    s3, kept = FakeBucket(), logged("linear-run")
    card = artifacts.publish_best_model(features, [train(features, LINEAR, "LinearRegression", keep=kept)], "run_1",
                                        "20261121T000000", "2026-11-20", DAY_RUN, s3=s3)
    return features, registered(card), s3, kept.pipeline


def tamper(s3, uri: str) -> None:
    """Another gzip'd CSV of the same columns: a later day's population, as someone with write access to the bucket
    could put in place of the training rows to hide a drift."""
    frame = pd.read_csv(io.BytesIO(artifacts.read(uri, s3)), compression="gzip").assign(product_type="premium")
    s3.objects[(BUCKET, uri.removeprefix(f"s3://{BUCKET}/"))] = gzip.compress(frame.to_csv(index=False).encode())


def test_training_rows_are_read_only_with_their_registered_sha256():
    features, entry, s3, _ = published_linear_model()
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
    with pytest.raises(OSError, match=f"^cannot read s3://{BUCKET}/nothing.csv.gz: "):
        artifacts.training_rows({**entry, "training_rows_uri": f"s3://{BUCKET}/nothing.csv.gz"}, s3=s3)


@contextlib.contextmanager
def no_database():
    yield None


@pytest.fixture
def monitor(monkeypatch):
    """`steps.monitor_model` of the day `features` for the registered `champion`, whose fitted Pipeline is `model`,
    with its training rows in the fake bucket `s3`; returns the rows it would store."""
    from include.finance.production import registry, steps

    def run(features, champion, model, s3):
        monkeypatch.setattr(steps, "db_connection", no_database)
        monkeypatch.setattr(tracking, "client", lambda: SimpleNamespace(tracking_uri="http://mlflow.test"))
        monkeypatch.setattr(registry, "incumbent", lambda client, run_key: champion)
        monkeypatch.setattr(steps, "load", lambda client, entry, uri=None: model)
        monkeypatch.setattr(tracking, "log_monitoring", lambda run_id, rows, alerts: None)
        monkeypatch.setattr(artifacts, "s3_hook", lambda: s3)
        monkeypatch.setattr(steps.monitoring, "store", lambda conn, schema, ds, run_id, rows: len(rows))
        monkeypatch.setattr(steps, "get_current_context", lambda: {})
        card = {"version": "20261122T000000", "mlflow": {"day_run_id": "day-run-2"}, "data": {"ds": "2026-11-21"}}
        return steps.monitor_model(features, card, "run_2")

    return run


def test_the_champions_tampered_training_rows_are_refused_before_drift_is_measured(monitor, monkeypatch):
    features, champion, s3, model = published_linear_model()
    rows = monitor(features, champion, model, s3)
    assert {r["metric"] for r in rows} == {"r2", "psi", "ks"}
    tamper(s3, champion["training_rows_uri"])
    monkeypatch.setattr("include.finance.production.drift.feature_drift", lambda *args: pytest.fail("drift measured"))
    with pytest.raises(ValueError, match="training_rows.csv.gz has SHA-256 [0-9a-f]{64} but the model registry says"):
        monitor(features, champion, model, s3)


def test_a_champion_without_a_training_rows_digest_is_refused_before_drift_is_measured(monitor, monkeypatch):
    features, champion, s3, model = published_linear_model()
    monkeypatch.setattr("include.finance.production.drift.feature_drift", lambda *args: pytest.fail("drift measured"))
    with pytest.raises(ValueError, match="^the model registry has no training_rows_sha256: refusing to measure drift"):
        monitor(features, {**champion, "training_rows_sha256": None}, model, s3)
