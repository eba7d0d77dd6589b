"""What a finance_ml run keeps in object storage, under `<ML_ARTIFACTS_PREFIX>/<run's logical date>/`:

    model.joblib        the best model's fitted Pipeline (`ml.load_model` loads it)
    model_card.json     what it was trained on, how it scored against the others, the SHA-256 of model.joblib
                        and of training_rows.csv.gz (the model registry records both, and checks them when it
                        reads the files back)
    training_rows.csv.gz  the features it was trained on: what the drift monitoring compares later days with
    plots/<model>.png   each model's predicted against true target on the test set
    plots/comparison.png

Every file is uploaded from memory: no task hands another a path on its worker's disk.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import platform

from include.finance import ml, report, schema, storage
from include.finance.config import settings
from include.finance.hooks import s3_hook

log = logging.getLogger(__name__)


def run_prefix(ts_nodash: str) -> str:
    return storage.ml_run_prefix(settings.ml_artifacts_prefix, ts_nodash)


def upload(data: bytes, key: str, s3=None) -> str:
    """Write `data` to `key` of the data bucket (replacing it: a retried task rewrites its files); returns its URI."""
    (s3 or s3_hook()).load_bytes(data, key, bucket_name=settings.data_bucket_name, replace=True)
    return f"s3://{settings.data_bucket_name}/{key}"


def read(uri: str, s3=None) -> bytes:
    """The bytes of an object of the data bucket, by its s3:// URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        return (s3 or s3_hook()).get_key(key, bucket_name=bucket).get()["Body"].read()
    except Exception as error:  # botocore's errors do not say which object
        raise OSError(f"cannot read {uri}: {error}") from error


def upload_plot(figure, name: str, ts_nodash: str, s3=None) -> str:
    """A plot of `include.finance.plots` as `plots/<name>.png` of the run."""
    from include.finance import plots

    return upload(plots.save(figure), f"{run_prefix(ts_nodash)}plots/{name}.png", s3)


def library_versions() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("scikit-learn", "pandas", "numpy", "joblib")}}


def model_card(best: dict, results: list[dict], rows: dict, data: dict, artifacts: dict, model_bytes: bytes) -> dict:
    """What a reader of the serialized model needs: data, rows, features, metrics of all models, versions.

    `model_sha256` is the SHA-256 of `model_bytes`, the `model.joblib` the card describes: `ml.load_model` checks it.
    """

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
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "usage": "include.finance.ml.load_model(model.joblib, this card).predict(frame with columns "
                 + ", ".join(ml.FEATURES) + f") -> {ml.TARGET_UNIT}",
        "libraries": library_versions(),
    }


def source_of(dataset_events: dict | None) -> dict:
    """Which finance_elt run built model_satisfaction, from the dataset events that triggered this run."""
    events = (dataset_events or {}).get(settings.model_satisfaction_dataset_uri, [])
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
    events = sorted((dataset_events or {}).get(settings.model_satisfaction_dataset_uri, []), key=lambda e: e.timestamp)
    days = [(event.extra or {}).get("ds") for event in events]
    left_out = sorted(set(days[:-1]) - {days[-1], None}) if days else []
    if left_out:
        log.warning("this run was triggered for several days: it works on %s and leaves out %s; trigger finance_ml"
                    " with the conf {\"ds\": \"<day>\"} for each of those", days[-1], ", ".join(left_out))
    day = (days[-1] if days else None) or latest_day()
    if not day:
        raise ValueError(f"{settings.db_schema}.{schema.MODEL_SATISFACTION} has no day yet: run finance_elt first")
    return str(day)


def publish_best_model(features: dict, results: list[dict], run_id: str, ts_nodash: str, ds: str,
                       dataset_events: dict | None = None, s3=None, registered_sha256: str | None = None,
                       registered_rows_sha256: str | None = None) -> dict:
    """Refit the model with the best cross-validated R2, upload it, its training rows and its model card;
    returns the card. `version` (the run's key in the bucket) is what the model registry calls it.

    `registered_sha256`, `registered_rows_sha256`: the registry's digests of this version's model and training
    rows, if it is registered already (a rerun): a registered model's files are never replaced by other bytes.
    """
    best = ml.select_best(results)
    model_bytes = ml.serialize_model(ml.fit_best(features, best, settings.ml_seed))
    rows_bytes = gzip.compress(features["train"][ml.FEATURES].to_csv(index=False).encode(), mtime=0)
    for what, registered, digest in (("model", registered_sha256, hashlib.sha256(model_bytes).hexdigest()),
                                     ("training rows", registered_rows_sha256, hashlib.sha256(rows_bytes).hexdigest())):
        if registered not in (None, digest):
            raise ValueError(f"model version {ts_nodash} is registered with SHA-256 {registered}, this run's {what} "
                             f"has {digest}: the day's data changed since. A registered model is never replaced: "
                             "trigger a new finance_ml run for the day instead of rerunning this one")
    prefix = run_prefix(ts_nodash)
    uri = f"s3://{settings.data_bucket_name}/{prefix}"
    data = {"table": f"{settings.db_schema}.{schema.MODEL_SATISFACTION}", **source_of(dataset_events), "ds": ds}
    artifacts = {"model": uri + "model.joblib", "model_card": uri + "model_card.json", "plots": uri + "plots/",
                 "training_rows": uri + "training_rows.csv.gz"}
    card = {"run_id": run_id, "version": ts_nodash,
            **model_card(best, results, features["rows"], data, artifacts, model_bytes),
            "training_rows_sha256": hashlib.sha256(rows_bytes).hexdigest()}  # registry.candidate_of records it
    upload(model_bytes, prefix + "model.joblib", s3)
    upload(rows_bytes, prefix + "training_rows.csv.gz", s3)
    upload(json.dumps(card, indent=2).encode(), prefix + "model_card.json", s3)
    print(f"{len(results)} models on {len(features['train'])} training and {len(features['test'])} test rows:\n"
          f"{report.model_table(results)}\n"
          f"best model {best['model']}: cv_r2 {best['cv_r2']:.4f}, test R2 {best['r2_test']:.4f} -> {uri}")
    return card


def load_registered(entry: dict, s3=None):
    """A model of the registry (`registry.py`), loaded from its artifact only if its SHA-256 is the registered one."""
    return ml.load_model(read(entry["artifact_uri"], s3), {"model_sha256": entry["model_sha256"],
                                                           "artifacts": {"model": entry["artifact_uri"]}})


def training_rows(entry: dict, s3=None):
    """The features a registered model was trained on (training_rows.csv.gz next to its model.joblib), read only
    if its SHA-256 is the registered one: the drift monitoring's alerts are measured against them."""
    import pandas as pd

    data = read(entry["training_rows_uri"], s3)
    ml.check_sha256(data, entry.get("training_rows_sha256"), entry["training_rows_uri"], "the model registry",
                    "training_rows_sha256", "measure drift against")
    return pd.read_csv(io.BytesIO(data), compression="gzip")
