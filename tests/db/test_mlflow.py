"""Tracking and the model registry against the stack's real MLflow server (PostgreSQL backend store, artifacts
served into the S3 endpoint's bucket, basic-auth on): MLflow's own client, no mocks."""

import hashlib
import urllib.error
import urllib.request

import pytest

from include.finance.production import registry
from include.finance.production.registry import CHALLENGER, CHAMPION
from include.finance.training import ml, tracking
from tests.unit.model_tables import BOOSTING, LINEAR, satisfaction_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def features():
    return ml.engineer_features(satisfaction_table(n=300, seed=1), seed=0)


def trained(features, run_key, ds="2026-01-01", model=LINEAR, name="LinearRegression"):
    """One day's finance_ml run as the tasks make it: its MLflow run, one model trained and logged under it, and
    the candidate of its model card."""
    day_run = tracking.start_day_run(run_key, ds, f"manual__{run_key}", {"built_by": "test"},
                                     f"s3://bucket/ml-runs/{run_key}/training_rows.csv.gz")
    result = ml.train_model(features, name, *model, folds=3, seed=0,
                            keep=lambda r, pipeline, example: tracking.log_model_run(day_run, r, pipeline, example))
    return day_run, result, {"run_key": run_key, "run_id": f"manual__{run_key}", "ds": ds, "model": name,
                             "model_class": model[0], "model_sha256": result["model_sha256"],
                             "training_rows_uri": "s3://bucket/rows.csv.gz", "training_rows_sha256": "0" * 64,
                             "r2_test": result["r2_test"], "mlflow_day_run_id": day_run["run_id"],
                             "mlflow_run_id": result["mlflow_run_id"], "model_uri": result["model_uri"]}


def fixed_scores(**by_run_key):
    return lambda entry: by_run_key[entry["run_key"]]


def aliases(client):
    return client.get_registered_model(registry.settings.mlflow_registered_model).aliases


def test_the_server_refuses_a_request_without_the_password(mlflow_server):
    url = f"{mlflow_server.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401
    wrong = urllib.request.Request(url, headers={"Authorization": "Basic YWRtaW46d3Jvbmc="})  # admin:wrong
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 401
    assert (mlflow_server.state_dir / "mlflow_password").stat().st_mode & 0o077 == 0
    assert (mlflow_server.state_dir / "mlflow_auth.ini").stat().st_mode & 0o077 == 0


def test_the_server_is_uvicorn_in_one_process_and_no_job_runner(mlflow_server):
    """MLflow's job runner (a dozen consumer processes of about 230 MB each, for GenAI jobs the pipeline never
    runs) is off, and so are uvicorn's worker processes: the server is the supervisor, the CLI and uvicorn."""
    from scripts.stack.common import process_tree

    tree = process_tree(int(mlflow_server.pid_file("mlflow").read_text()))
    commands = [" ".join(proc.cmdline()) for proc in tree]
    assert not [command for command in commands if "huey" in command or "_job_runner" in command], commands
    assert sum("uvicorn" in command for command in commands) == 1, commands
    assert not [command for command in commands if "spawn_main" in command], commands  # uvicorn's --workers 1


def test_a_model_is_a_nested_run_with_params_metrics_and_an_mlflow_model_whose_sha256_is_its_tag(mlflow_env, features):
    day_run, result, _ = trained(features, "20260101T000000")
    run = mlflow_env.get_run(result["mlflow_run_id"])
    assert run.data.tags["mlflow.parentRunId"] == day_run["run_id"]
    assert run.data.params == {"cv_folds": "3"}  # LinearRegression has no hyper-parameters set
    assert {"cv_r2", "cv_r2_std", "r2_train", "r2_test", "fit_seconds"} <= set(run.data.metrics)
    assert run.data.metrics["r2_test"] == pytest.approx(result["r2_test"])
    files = {f.path for f in mlflow_env.list_artifacts(run.info.run_id, "model")}
    assert {"model/MLmodel", "model/model.pkl", "model/input_example.json"} <= files
    mlmodel = mlflow_env.download_artifacts(run.info.run_id, "model/MLmodel")
    assert "signature:" in open(mlmodel).read()
    pkl = mlflow_env.download_artifacts(run.info.run_id, "model/model.pkl")
    assert hashlib.sha256(open(pkl, "rb").read()).hexdigest() == run.data.tags[tracking.MODEL_SHA256] \
        == result["model_sha256"]
    # the artifacts are in the stack's bucket, under the server's prefix, written through the server
    assert mlflow_env.get_experiment(day_run["experiment_id"]).artifact_location.startswith("mlflow-artifacts:/")


def test_a_retried_training_task_finds_its_runs_instead_of_making_new_ones(mlflow_env, features):
    day_run, first, _ = trained(features, "20260102T000000")
    again, second, _ = trained(features, "20260102T000000")
    assert again["run_id"] == day_run["run_id"] and second["mlflow_run_id"] == first["mlflow_run_id"]
    runs = mlflow_env.search_runs([day_run["experiment_id"]])
    assert len(runs) == 2  # the day's run and one nested run


def test_the_registry_promotes_by_our_rule_and_moves_the_aliases(mlflow_env, features):
    _, _, day1 = trained(features, "20260101T000000", "2026-01-01")
    first = registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.80}), 0.01)
    assert (first["version"], first["status"], first["decision"]) == ("1", CHAMPION, "promoted")
    assert first["reason"].startswith("first model") and aliases(mlflow_env) == {CHAMPION: "1"}

    _, _, day2 = trained(features, "20260102T000000", "2026-01-02")
    worse = registry.register(mlflow_env, day2, fixed_scores(**{"20260101T000000": 0.80, "20260102T000000": 0.805}),
                              0.01)
    assert (worse["status"], worse["decision"], worse["incumbent_version"]) == ("candidate", "not promoted", "1")
    assert aliases(mlflow_env) == {CHAMPION: "1", CHALLENGER: "2"}

    _, _, day3 = trained(features, "20260103T000000", "2026-01-03", BOOSTING, "GradientBoosting")
    better = registry.register(mlflow_env, day3, fixed_scores(**{"20260101T000000": 0.80, "20260103T000000": 0.85}),
                               0.01)
    assert (better["version"], better["status"], better["champion_r2"]) == ("3", CHAMPION, 0.80)
    assert aliases(mlflow_env) == {CHAMPION: "3", CHALLENGER: "2"}
    assert registry.version(mlflow_env, "1")["status"] == "retired"
    version = mlflow_env.get_model_version(registry.settings.mlflow_registered_model, "3")
    assert "beats champion 0.8000" in version.description and version.tags["finance.decision"] == "promoted"

    # a rerun of day 2 changes nothing: no second version, no alias moved, the recorded decision
    rerun = registry.register(mlflow_env, day2, fixed_scores(**{"20260103T000000": 0.1, "20260102T000000": 0.9}), 0.01)
    assert (rerun["version"], rerun["decision"]) == ("2", "not promoted")
    assert len(mlflow_env.search_model_versions(f"name = '{registry.settings.mlflow_registered_model}'")) == 3
    assert aliases(mlflow_env) == {CHAMPION: "3", CHALLENGER: "2"}


def test_a_decided_model_keeps_the_incumbent_it_met(mlflow_env, features):
    _, _, day1 = trained(features, "20260101T000000")
    registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.5}), 0.01)
    _, _, day2 = trained(features, "20260102T000000")
    assert registry.incumbent(mlflow_env, "20260102T000000")["version"] == "1"  # not decided yet: the champion now
    decided = registry.register(mlflow_env, day2, fixed_scores(**{"20260101T000000": 0.5, "20260102T000000": 0.9}),
                                0.01)
    assert decided["status"] == CHAMPION
    assert registry.incumbent(mlflow_env, "20260102T000000")["version"] == "1"  # champion now, but it met version 1
    assert registry.incumbent(mlflow_env, "20260101T000000") is None
    assert [registry.serving_after(registry.version(mlflow_env, n)) for n in ("1", "2")] == ["1", "2"]


def test_a_decision_recorded_before_its_alias_moved_moves_it_on_the_retry(mlflow_env, features):
    _, _, day1 = trained(features, "20260101T000000")
    registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.8}), 0.01)
    _, _, day2 = trained(features, "20260102T000000")
    name = registry.settings.mlflow_registered_model
    real = mlflow_env.set_registered_model_alias
    mlflow_env.set_registered_model_alias = lambda *args: (_ for _ in ()).throw(RuntimeError("killed"))
    with pytest.raises(RuntimeError, match="killed"):
        registry.register(mlflow_env, day2, fixed_scores(**{"20260101T000000": 0.8, "20260102T000000": 0.9}), 0.01)
    mlflow_env.set_registered_model_alias = real
    assert aliases(mlflow_env) == {CHAMPION: "1"}  # the task died between the decision and the alias
    retried = registry.register(mlflow_env, day2, fixed_scores(), 0.01)  # scores nothing: the decision stands
    assert retried["status"] == CHAMPION and aliases(mlflow_env) == {CHAMPION: "2"}
    assert len(mlflow_env.search_model_versions(f"name = '{name}'")) == 2


def test_a_rerun_that_trains_another_model_never_replaces_a_registered_ones_files(mlflow_env, features):
    _, first, day1 = trained(features, "20260101T000000")
    entry = registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.8}), 0.01)
    changed = ml.engineer_features(satisfaction_table(n=300, seed=2), seed=0)  # the day's data changed since
    with pytest.raises(ValueError, match=r"LinearRegression's model of finance_ml run 20260101T000000 is registered "
                                         r"\(version 1 of .*\) with SHA-256 .*: the day's data changed since"):
        trained(changed, "20260101T000000")
    pkl = mlflow_env.download_artifacts(first["mlflow_run_id"], "model/model.pkl")
    assert hashlib.sha256(open(pkl, "rb").read()).hexdigest() == entry["model_sha256"]


def test_two_versions_of_one_run_are_refused_naming_the_model_and_the_versions(mlflow_env, features):
    _, _, day1 = trained(features, "20260101T000000")
    registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.8}), 0.01)
    name = registry.settings.mlflow_registered_model
    mlflow_env.create_model_version(name, day1["model_uri"], run_id=day1["mlflow_run_id"],
                                    tags={"finance.run_key": "20260101T000000"})
    with pytest.raises(registry.RegistryError, match=rf"registered model {name}: versions 1, 2 are all the model"):
        registry.register(mlflow_env, day1, fixed_scores(), 0.01)
    assert aliases(mlflow_env) == {CHAMPION: "1"}


def test_a_deleted_champion_is_refused_and_nothing_is_promoted(mlflow_env, features):
    _, _, day1 = trained(features, "20260101T000000")
    registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.8}), 0.01)
    _, _, day2 = trained(features, "20260102T000000")
    registry.register(mlflow_env, day2, fixed_scores(**{"20260101T000000": 0.8, "20260102T000000": 0.9}), 0.01)
    name = registry.settings.mlflow_registered_model
    mlflow_env.delete_model_version(name, "2")  # the champion, its alias with it
    _, _, day3 = trained(features, "20260103T000000")
    with pytest.raises(registry.RegistryError, match=rf"registered model {name}: no version has the alias champion, "
                                                     r"but version\(s\) 1 were promoted"):
        registry.register(mlflow_env, day3, fixed_scores(**{"20260103T000000": 0.99}), 0.01)
    assert CHAMPION not in aliases(mlflow_env)
    assert registry.of_run(mlflow_env, "20260103T000000")["decision"] is None


def test_a_model_whose_artifact_was_replaced_is_refused_before_it_is_unpickled(mlflow_env, features, tmp_path):
    _, _, day1 = trained(features, "20260101T000000")
    entry = registry.register(mlflow_env, day1, fixed_scores(**{"20260101T000000": 0.8}), 0.01)
    uri = f"models:/{registry.settings.mlflow_registered_model}@{CHAMPION}"
    model = tracking.load_model(mlflow_env, uri, entry["model_sha256"], "the champion")
    assert model.predict(features["test"][ml.FEATURES]).shape == (len(features["test"]),)
    (tmp_path / "model.pkl").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")  # a pickle that runs a command
    mlflow_env.log_artifact(entry["mlflow_run_id"], str(tmp_path / "model.pkl"), "model")
    with pytest.raises(ValueError, match=r"model.pkl\) has SHA-256 .* but the champion says .*: refusing to load it"):
        tracking.load_model(mlflow_env, uri, entry["model_sha256"], "the champion")


def test_a_server_that_does_not_answer_fails_the_call_naming_the_tracking_uri(monkeypatch):
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(tracking.TrackingError, match=rf"MLflow tracking server {url}: "):
        tracking.start_day_run("20260101T000000", "2026-01-01", "manual", {}, "s3://b/rows")
