"""What a finance_ml run keeps in object storage, under `<ML_ARTIFACTS_PREFIX>/<run's logical date>/`:

    model_card.json     what the best model was trained on, how it scored against the others, where it is in
                        MLflow (its nested run, its model's URI and the SHA-256 of its model.pkl) and the
                        SHA-256 of training_rows.csv.gz (the model registry records both, and checks them when
                        it reads the files back)
    training_rows.csv.gz  the features it was trained on: what the drift monitoring compares later days with
    plots/<model>.png   each model's predicted against true target on the test set
    plots/comparison.png, plots/monitoring.png

The models themselves are in MLflow (`tracking.py`): each nested run's, and the registered versions. The card
and the plots are also artifacts of the run's MLflow runs. Every file is uploaded from memory: no task hands
another a path on its worker's disk.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import platform

from include.finance import report, schema
from include.finance.config import settings
from include.finance.connections import s3_hook
from include.finance.ingestion import bucket
from include.finance.training import ml

log = logging.getLogger(__name__)


def run_prefix(run_key: str) -> str:
    return bucket.ml_run_prefix(settings.ml_artifacts_prefix, run_key)


def upload(data: bytes, key: str, s3=None) -> str:
    """Write `data` to `key` of the data bucket (replacing it: a retried task rewrites its files); returns its URI."""
    (s3 or s3_hook()).load_bytes(data, key, bucket_name=settings.data_bucket_name, replace=True)
    return f"s3://{settings.data_bucket_name}/{key}"


def read(uri: str, s3=None) -> bytes:
    """The bytes of an object of the data bucket, by its s3:// URI."""
    bucket_name, _, key = uri.removeprefix("s3://").partition("/")
    try:
        return (s3 or s3_hook()).get_key(key, bucket_name=bucket_name).get()["Body"].read()
    except Exception as error:  # botocore's errors do not say which object
        raise OSError(f"cannot read {uri}: {error}") from error


def upload_plot(figure, name: str, run_key: str, s3=None, mlflow_run_id: str | None = None) -> str:
    """A plot of `include.finance.training.plots` as `plots/<name>.png` of the run, and of MLflow run `mlflow_run_id`."""
    from include.finance.training import plots, tracking

    png = plots.save(figure)
    if mlflow_run_id:
        tracking.log_file(mlflow_run_id, png, f"{name}.png", "plots")
    return upload(png, f"{run_prefix(run_key)}plots/{name}.png", s3)


def library_versions() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("scikit-learn", "pandas", "numpy", "cloudpickle", "mlflow-skinny")}}


def model_card(best: dict, results: list[dict], rows: dict, data: dict, artifacts: dict) -> dict:
    """What a reader of the model needs: data, rows, features, metrics of all models, versions, and where it is in
    MLflow. `model_sha256` is the SHA-256 of its model.pkl in MLflow: `tracking.load_model` checks it."""

    def metrics(r: dict) -> dict:
        return {k: r[k] for k in ("cv_r2", "cv_r2_std", "cv_folds", "r2_train", "r2_test", "fit_seconds")}

    return {
        "model": best["model"],
        "model_class": best["model_class"],
        "hyper_parameters": best["hyper_parameters"],
        "selected_by": f"highest mean R2 over {best['cv_folds']}-fold cross-validation on the training set",
        "data": data,
        "rows": rows,
        "features": {"numeric (standard-scaled)": ml.NUMERIC_FEATURES,
                     "categorical (one-hot)": ml.CATEGORICAL_FEATURES},
        "target": f"{ml.TARGET} ({ml.TARGET_UNIT}): average captured amount of a customer's successful charges",
        "metrics": metrics(best),
        "feature_importance": best["feature_importance"],
        "coefficients": best["coefficients"],
        "all_models": {r["model"]: metrics(r) for r in results},
        "artifacts": artifacts,
        "mlflow": {"run_id": best["mlflow_run_id"], "model_uri": best["model_uri"]},
        "model_sha256": best["model_sha256"],
        "usage": "mlflow.sklearn.load_model(models:/<MLFLOW_REGISTERED_MODEL>@champion).predict(frame with columns "
                 + ", ".join(ml.FEATURES) + f") -> {ml.TARGET_UNIT}",
        "libraries": library_versions(),
    }


def source_of(dataset_events: dict | None) -> dict:
    """Which finance_elt run built model_satisfaction, from the dataset events that triggered this run."""
    events = (dataset_events or {}).get(schema.model_satisfaction_uri(), [])
    if not events:
        return {"built_by": "unknown (manual run)"}
    latest = max(events, key=lambda event: event.timestamp)
    return {"built_by": f"{latest.source_dag_id} run {latest.source_run_id}", **(latest.extra or {})}


def day_of(dataset_events: dict | None, conf: dict | None, latest_day) -> str:
    """The day of model_satisfaction a finance_ml run works on: a manual run's conf {"ds": "YYYY-MM-DD"}, else
    the day finance_elt's dataset event names, else (a manual run without one) `latest_day()`, the newest
    day in the table. Airflow gives one run all the events since the last one: if they name several
    days, the run works on the latest event's and says which days it leaves out."""
    if (conf or {}).get("ds"):
        try:
            return dt.date.fromisoformat(str(conf["ds"])).isoformat()
        except ValueError:
            raise ValueError(f"the run's conf ds must be a day like 2026-11-30, got {conf['ds']!r}") from None
    events = sorted((dataset_events or {}).get(schema.model_satisfaction_uri(), []), key=lambda e: e.timestamp)
    days = [(event.extra or {}).get("ds") for event in events]
    left_out = sorted(set(days[:-1]) - {days[-1], None}) if days else []
    if left_out:
        log.warning("this run was triggered for several days: it works on %s and leaves out %s; trigger finance_ml"
                    " with the conf {\"ds\": \"<day>\"} for each of those", days[-1], ", ".join(left_out))
    day = (days[-1] if days else None) or latest_day()
    if not day:
        raise ValueError(f"{settings.db_schema}.{schema.MODEL_SATISFACTION} has no day yet: run finance_elt first")
    return str(day)


def publish_best_model(features: dict, results: list[dict], run_id: str, run_key: str, ds: str, day_run: dict,
                       dataset_events: dict | None = None, s3=None, registered_rows_sha256: str | None = None) -> dict:
    """The model with the best cross-validated R2 (logged to MLflow by its training task): its training rows and
    its model card, uploaded; returns the card. `version` (the run's key in the bucket) is the run key the model
    registry finds its version by.

    `registered_rows_sha256`: the registry's digest of this run's training rows, if its model is registered already
    (a rerun): a registered model's files are never replaced by other bytes.
    """
    best = ml.select_best(results)
    rows_bytes = gzip.compress(features["train"][ml.FEATURES].to_csv(index=False).encode(), mtime=0)
    digest = hashlib.sha256(rows_bytes).hexdigest()
    if registered_rows_sha256 not in (None, digest):
        raise ValueError(f"the model of run {run_key} is registered with training rows of SHA-256 "
                         f"{registered_rows_sha256}, this run's have {digest}: the day's data changed since. A "
                         "registered model is never replaced: trigger a new finance_ml run for the day instead")
    prefix = run_prefix(run_key)
    uri = f"s3://{settings.data_bucket_name}/{prefix}"
    data = {"table": f"{settings.db_schema}.{schema.MODEL_SATISFACTION}", **source_of(dataset_events), "ds": ds}
    artifacts = {"model_card": uri + "model_card.json", "plots": uri + "plots/",
                 "training_rows": uri + "training_rows.csv.gz"}
    card = {"run_id": run_id, "version": run_key, **model_card(best, results, features["rows"], data, artifacts),
            "training_rows_sha256": digest}  # registry.candidate_of records it
    card["mlflow"]["day_run_id"] = day_run["run_id"]
    card["mlflow"]["experiment_id"] = day_run["experiment_id"]
    upload(rows_bytes, prefix + "training_rows.csv.gz", s3)
    upload(json.dumps(card, indent=2).encode(), prefix + "model_card.json", s3)
    print(f"{len(results)} models on {len(features['train'])} training and {len(features['test'])} test rows:\n"
          f"{report.model_table(results)}\n"
          f"best model {best['model']}: cv_r2 {best['cv_r2']:.4f}, test R2 {best['r2_test']:.4f} -> {best['model_uri']}")
    return card


def training_rows(entry: dict, s3=None):
    """The features a registered model was trained on (training_rows.csv.gz of its run in the bucket), read only
    if its SHA-256 is the registered one: the drift monitoring's alerts are measured against them."""
    import pandas as pd

    data = read(entry["training_rows_uri"], s3)
    ml.check_sha256(data, entry.get("training_rows_sha256"), entry["training_rows_uri"], "the model registry",
                    "training_rows_sha256", "measure drift against")
    return pd.read_csv(io.BytesIO(data), compression="gzip")
