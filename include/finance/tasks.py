"""The tasks both editions' DAGs share, as plain functions: each DAG file makes them tasks with its own
Airflow's `@task` (`airflow.decorators` on Airflow 2, `airflow.sdk` on Airflow 3) and wires them. Their
keyword arguments named like the context's keys (`ds`, `run_id`, ...) are filled in by Airflow. Everything
is imported when a task runs, not when a DAG file is parsed. finance_ml's steps after training are the
functions of `include/finance/production/steps.py`, which the DAG files make tasks in the same way.

What differs between the editions stays in their DAG files: the Astro SDK's or the plain operators, the
dataset (Airflow 2) or asset (Airflow 3) a task emits, and the name of the triggering events.
"""

from __future__ import annotations

from include.finance.config import settings
from include.finance.connections import db_connection, s3_hook
from include.finance.contract import KINDS
from include.finance.edition import get_current_context, task
from include.finance.run_context import events_by_uri, run_key

# --- in_finance_data ---------------------------------------------------------------------------------

def clear_partition(ds=None) -> int:
    """Remove the day's old files and manifests: a rerun must not keep stale parts."""
    from include.finance.ingestion import bucket

    return bucket.clear_partition(s3_hook(), settings.data_bucket_name, ds, KINDS)


def plan_parts() -> list[dict]:
    """One entry per upload_part task: a generated part number, or one of the user's files."""
    from include.finance.ingestion import bucket

    return bucket.plan_parts(settings.input_data_dir, KINDS, settings.mock_data_parts)


def upload_part(part: dict, ds=None, logical_date=None) -> list[dict]:
    """Produce one part and stream it to the bucket; report each object's key, rows and bytes."""
    from functools import partial

    from include.finance.ingestion import bucket, mock_data

    get_current_context()["part_label"] = part.get("file") or f"part {part['part']}"  # the map_index_template's
    generate = partial(mock_data.write_part, logical_date=logical_date.date(), customers=settings.mock_data_customers,
                       scale=settings.mock_data_scale, parts=settings.mock_data_parts, seed=settings.mock_data_seed,
                       shift_from=settings.shift_from)
    return bucket.upload_part(s3_hook(), settings.data_bucket_name, ds, part, KINDS, generate)


def write_manifests(reports: list[list[dict]], ds=None) -> list[str]:
    """Mark the day complete, after every part is uploaded and found in the bucket."""
    from include.finance.ingestion import bucket

    uploaded = [report for part in reports for report in part]
    return bucket.write_manifests(s3_hook(), settings.data_bucket_name, ds, uploaded, KINDS)


# --- finance_elt -------------------------------------------------------------------------------------

def create_tables() -> None:
    """Create the schema and the tables that are missing; the read-only role (the dashboard's) may read them."""
    from include.finance import schema

    with db_connection() as conn:
        schema.create_tables(conn, settings.db_schema, settings.db_reader_role)


def audit_model_input(ds=None, run_id=None) -> dict:
    """Count what the day's model table will leave out (charges in other currencies or with an
    implausible amount, survey answers without charges) into model_input_audit; the rows stay loaded."""
    from include.finance.quality import model_input

    with db_connection() as conn:
        return model_input.audit_model_input(conn, settings.db_schema, ds, run_id, settings.model_currency,
                                             settings.max_charge_amount)


def publish_model_satisfaction(ds, data_interval_start, data_interval_end) -> dict:
    """Replace the day of model_satisfaction by the checked staging table in one transaction; returns the
    extra of the dataset (asset) event the task emits: the day, which finance_ml reads."""
    from include.finance import schema

    with db_connection() as conn:
        schema.publish_day(conn, settings.db_schema, schema.MODEL_SATISFACTION_STAGING, schema.MODEL_SATISFACTION,
                           schema.MODEL_SATISFACTION_COLUMNS, ds)
    return {"ds": ds, "data_interval_start": data_interval_start.isoformat(),
            "data_interval_end": data_interval_end.isoformat()}


# --- finance_ml --------------------------------------------------------------------------------------

def train(features: dict, name: str, model_class: str, hyper_parameters: dict, folds: int, seed: int,
          day_run: dict) -> dict:
    """One model, trained and logged as a nested run of the day's MLflow run `day_run`."""
    # imported here: in a Kubernetes pod this function's source is all that runs
    from include.finance.training.ml import train_model
    from include.finance.training.tracking import log_model_run

    return train_model(features, name, model_class, hyper_parameters, folds, seed,
                       keep=lambda result, pipeline, example: log_model_run(day_run, result, pipeline, example))


def training_task():
    """`train` as a task, mapped by finance_ml over the models: with
    ENVIRONMENT=prod each model trains in a Kubernetes pod of its own (`@task.kubernetes`, image
    TRAINING_IMAGE, by default the deployment's own), otherwise in a plain task."""
    if not settings.train_in_pods:
        return task(task_id="train_model_task")(train)
    from kubernetes.client import models as k8s

    return task.kubernetes(
        image=settings.training_image,
        image_pull_secrets=[k8s.V1LocalObjectReference(name) for name in settings.k8s_image_pull_secrets],
        in_cluster=True,
        namespace=settings.k8s_namespace,
        name="train-model",
        get_logs=True,
        log_events_on_failure=True,
        do_xcom_push=True,
        # the pod logs to MLflow with MLflow's own variables (MLFLOW_TRACKING_URI, _USERNAME, _PASSWORD) from a
        # Kubernetes secret: it has no Airflow connection (docs/deployment.md)
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.k8s_mlflow_secret))],
        task_id="train_model_task",
    )(train)


def store_metrics(results: list[dict], run_id=None) -> int:
    from include.finance import schema
    from include.finance.training import metrics

    with db_connection() as conn:
        return metrics.store_metrics(conn, settings.db_schema, schema.MODEL_METRICS, run_id, list(results))


def plot_model_results(model_results: dict) -> str:
    """One model's plot, in the bucket and on its nested MLflow run."""
    from include.finance.training import artifacts, plots

    return artifacts.upload_plot(plots.predicted_vs_true(model_results), model_results["model"], run_key(),
                                 mlflow_run_id=model_results["mlflow_run_id"])


def plot_comparison(results: list[dict], day_run: dict) -> str:
    """Every model's scores side by side, in the bucket and on the day's MLflow run."""
    from include.finance.training import artifacts, plots

    return artifacts.upload_plot(plots.model_comparison(list(results)), "comparison", run_key(),
                                 mlflow_run_id=day_run["run_id"])


def start_tracking(day: str, run_id: str, events) -> dict:
    """The day's run in MLflow (`tracking.start_day_run`), which each model's training logs a nested run under."""
    from include.finance.training import artifacts, tracking

    key = run_key()
    return tracking.start_day_run(key, day, run_id, artifacts.source_of(events_by_uri(events)),
                                  f"s3://{settings.data_bucket_name}/{artifacts.run_prefix(key)}training_rows.csv.gz")


def data_day(events, conf) -> str:
    """The day of model_satisfaction the run works on (`artifacts.day_of`)."""
    from include.finance import schema
    from include.finance.training import artifacts

    with db_connection() as conn:
        return artifacts.day_of(events_by_uri(events), conf,
                                lambda: schema.latest_day(conn, settings.db_schema, schema.MODEL_SATISFACTION))
