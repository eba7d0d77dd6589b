"""Experiment tracking on MLflow: what a finance_ml run shows an ML engineer in the MLflow UI.

- one MLflow run per finance_ml run in the experiment MLFLOW_EXPERIMENT, named `<day> <run key>`, tagged with
  the Airflow run, the day, the dataset event that triggered it and the training rows' URI; on it the
  comparison and monitoring plots, the model card, and the day's monitoring figures as metrics (the
  champion's R2 on the day, PSI and KS per feature, the number of alerts), so the UI charts them over days;
- one nested run per trained model: its hyper-parameters as params; cv R2 mean and std, train and test R2,
  fit seconds as metrics; its plot; the fitted Pipeline as an MLflow scikit-learn model with its signature
  and an input example, whose `model.pkl` SHA-256 is the run's tag `finance.model_sha256`.

The registry (`registry.py`) registers the best nested run's model. Tasks reach the server through the
Airflow connection MLFLOW_CONN_ID (host, port, login, password; `schema` http or https), or, where
MLFLOW_TRACKING_URI is set (a training pod, a deployment that prefers it), MLflow's own environment variables.
The login goes to MLflow's client through the environment of the task's process: never into a log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from include.finance.config import settings

log = logging.getLogger(__name__)

# tags of the runs (MLflow's own: mlflow.*)
RUN_KEY, DAG_RUN_ID, DAY = "finance.run_key", "airflow.dag_run_id", "finance.ds"
MODEL, MODEL_SHA256 = "finance.model", "finance.model_sha256"
MODEL_PATH = "model"  # the artifact folder of a nested run's model
MODEL_FILE = "model.pkl"  # in it: what the SHA-256 is of
# A server that does not answer fails a call after about 11 s (3 retries, measured against a closed port), and the
# task with it: Airflow retries the task, which is what waits for the server (MLflow's default waits for minutes).
# Every artifact byte goes through the server (`--serve-artifacts`): the tasks reach the server only, never the
# artifact store itself (a server that offers multipart transfers would otherwise hand them presigned store URLs).
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
              "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false"}


class TrackingError(RuntimeError):
    """The MLflow server could not be reached or refused a call; the message names the tracking URI."""


def client_settings() -> None:
    """CLIENT_ENV, where the environment does not set them otherwise (MLflow's client reads them at each call)."""
    for name, value in CLIENT_ENV.items():
        os.environ.setdefault(name, value)


def tracking_uri() -> str:
    """The server's URI, setting the client's login from the connection (or leaving MLflow's environment)."""
    client_settings()
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    from include.finance.edition import BaseHook

    conn = BaseHook.get_connection(settings.mlflow_conn_id)
    if conn.login:
        os.environ["MLFLOW_TRACKING_USERNAME"] = conn.login
        os.environ["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
    return f"{conn.schema or 'http'}://{conn.host}" + (f":{conn.port}" if conn.port else "")


def client():
    """MLflow's client on the tracking server (and model registry) the tasks use."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


@contextmanager
def reaching(client):
    """Errors of MLflow's client (a server down, a refused login) as a TrackingError that names the tracking URI."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    try:
        yield
    except (MlflowException, RequestException) as error:
        message = str(error).splitlines()[0][:500] if str(error) else type(error).__name__
        raise TrackingError(f"MLflow tracking server {client.tracking_uri}: {message}") from error


def experiment_id(mlflow_client) -> str:
    """The experiment's id, made on first use (two tasks making it at once: the second finds the first's)."""
    from mlflow.exceptions import MlflowException

    with reaching(mlflow_client):
        found = mlflow_client.get_experiment_by_name(settings.mlflow_experiment)
        if found is not None:
            return found.experiment_id
        try:  # a model-training experiment: the MLflow UI opens it on its runs, not on the GenAI overview
            return mlflow_client.create_experiment(settings.mlflow_experiment,
                                                   tags={"mlflow.experimentKind": "custom_model_development"})
        except MlflowException:
            return mlflow_client.get_experiment_by_name(settings.mlflow_experiment).experiment_id


def _find_run(mlflow_client, experiment: str, tags: dict, top_level: bool = False):
    """The one run with these tags (with `top_level`, of the runs that are nobody's nested run), if any: a retried
    or rerun task finds the run it made before."""
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    runs = [run for run in mlflow_client.search_runs([experiment], query, max_results=50)
            if not (top_level and "mlflow.parentRunId" in run.data.tags)]
    if len(runs) > 1:
        raise TrackingError(f"MLflow tracking server {mlflow_client.tracking_uri}: runs "
                            f"{', '.join(r.info.run_id for r in runs)} of experiment {settings.mlflow_experiment} "
                            f"all have {tags}")
    return runs[0] if runs else None


def start_day_run(run_key: str, ds: str, dag_run_id: str, source: dict, training_rows_uri: str) -> dict:
    """finance_ml's run in MLflow (made once per Airflow run; a retry or rerun finds it): its ids."""
    mlflow_client = client()
    experiment = experiment_id(mlflow_client)
    with reaching(mlflow_client):
        run = _find_run(mlflow_client, experiment, {RUN_KEY: run_key}, top_level=True)
        if run is None:
            tags = {RUN_KEY: run_key, DAG_RUN_ID: dag_run_id, DAY: ds, "finance.training_rows_uri": training_rows_uri,
                    "finance.dataset_event": source.get("built_by", ""), "mlflow.runName": f"{ds} {run_key}"}
            run = mlflow_client.create_run(experiment, run_name=f"{ds} {run_key}", tags=tags)
        run_id = run.info.run_id
    log.info("MLflow run %s of experiment %s (%s)", run_id, settings.mlflow_experiment, mlflow_client.tracking_uri)
    return {"run_id": run_id, "run_key": run_key, "experiment_id": experiment, "tracking_uri": mlflow_client.tracking_uri}


def pip_requirements() -> list[str]:
    """What the logged model needs to be loaded (pinned as in the lock), instead of MLflow inferring it: that
    loads the model in a subprocess, seconds per model."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "cloudpickle")]


def log_model_run(day_run: dict, result: dict, pipeline, example) -> dict:
    """The nested run of one trained model (`ml.train_model`'s result and fitted `pipeline`): params, metrics,
    the model. A retried task finds its run; the model is logged again only if it is another one (its SHA-256).
    Returns the run's id, its model's artifact URI and SHA-256, for the result the task hands on."""
    from mlflow.entities import Metric, Param
    from mlflow.models import infer_signature

    import mlflow

    mlflow_client = client()
    with reaching(mlflow_client), tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / MODEL_PATH
        mlflow.sklearn.save_model(pipeline, path, serialization_format="cloudpickle",
                                  signature=infer_signature(example, pipeline.predict(example)),
                                  input_example=example, pip_requirements=pip_requirements())
        sha256 = hashlib.sha256((path / MODEL_FILE).read_bytes()).hexdigest()
        tags = {"mlflow.parentRunId": day_run["run_id"], MODEL: result["model"]}
        run = _find_run(mlflow_client, day_run["experiment_id"], tags) or mlflow_client.create_run(
            day_run["experiment_id"], run_name=result["model"], tags={**tags, "finance.model_class": result["model_class"]})
        run_id, logged = run.info.run_id, run.data.tags.get(MODEL_SHA256)
        if logged not in (None, sha256):
            registered = mlflow_client.search_model_versions(f"run_id = '{run_id}'")
            if registered:  # its files are the version's: they are never replaced
                raise ValueError(
                    f"{result['model']}'s model of finance_ml run {day_run['run_key']} is registered (version "
                    f"{registered[0].version} of {registered[0].name}) with SHA-256 {logged}, this try's has {sha256}:"
                    " the day's data changed since. A registered model is never replaced: trigger a new finance_ml"
                    " run for the day instead of rerunning this one")
        if logged != sha256:
            now = int(time.time() * 1000)
            mlflow_client.log_batch(
                run_id,
                metrics=[Metric(name, float(result[name]), now, 0)
                         for name in ("cv_r2", "cv_r2_std", "r2_train", "r2_test", "fit_seconds")],
                params=[] if logged else [Param(k, str(v)) for k, v in
                                          {**result["hyper_parameters"], "cv_folds": result["cv_folds"]}.items()])
            mlflow_client.log_artifacts(run_id, str(path), MODEL_PATH)
            mlflow_client.set_tag(run_id, MODEL_SHA256, sha256)
        mlflow_client.set_terminated(run_id)
    return {"mlflow_run_id": run_id, "model_uri": f"{run.info.artifact_uri}/{MODEL_PATH}", "model_sha256": sha256}


def log_file(run_id: str, data: bytes, name: str, folder: str | None = None) -> None:
    """`data` as the artifact `name` (in `folder`) of an MLflow run: a plot, the model card."""
    mlflow_client = client()
    with reaching(mlflow_client), tempfile.TemporaryDirectory() as local:
        (Path(local) / name).write_bytes(data)
        mlflow_client.log_artifact(run_id, str(Path(local) / name), folder)


def log_monitoring(run_id: str, rows: list[dict], alerts: int) -> None:
    """The day's monitoring figures as metrics of its MLflow run: `champion_r2`, `psi_<feature>`, `ks_<feature>`,
    `alerts` (the same rows as model_monitoring)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric("champion_r2" if row["metric"] == "r2" else f"{row['metric']}_{row['feature']}",
                      float(row["value"]), now, 0) for row in rows]
    mlflow_client = client()
    with reaching(mlflow_client):
        mlflow_client.log_batch(run_id, metrics=[*metrics, Metric("alerts", float(alerts), now, 0)])
        mlflow_client.set_terminated(run_id)


def load_model(mlflow_client, model_uri: str, sha256: str | None, name: str):
    """The MLflow scikit-learn model at `model_uri` (models:/..., or a run's artifact URI), loaded only if its
    model.pkl has the SHA-256 `sha256` (the registered version's tag): unpickling can run any code, and anyone who
    can write to the artifact store could have replaced it. The files go to a temporary folder, removed after."""
    import mlflow
    from include.finance.training import ml

    client_settings()
    mlflow.set_tracking_uri(mlflow_client.tracking_uri)
    mlflow.set_registry_uri(mlflow_client.tracking_uri)  # where a models:/ URI is resolved: this client's server
    with reaching(mlflow_client), tempfile.TemporaryDirectory() as folder:
        path = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=folder))
        ml.check_sha256((path / MODEL_FILE).read_bytes(), sha256, f"{model_uri} ({MODEL_FILE})", name,
                        MODEL_SHA256, "load")
        return mlflow.sklearn.load_model(str(path))
