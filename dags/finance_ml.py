"""
### Train, compare and keep models on `model_satisfaction`

Runs whenever `finance_elt` updates `model_satisfaction` (dataset schedule).

1. `select_model_rows` (`@aql.transform`, in Postgres): the columns the models use, of at most
   `ML_MAX_ROWS` customers (a fixed pseudo-random sample when the table has more).
   `feature_eng` (`@aql.dataframe`): reads them as a DataFrame, leaves out (and counts) customers
   without survey answers, stops with a clear message if too few rows remain, splits train and test.
2. `train_model_task`, mapped over `MODELS` in `include/finance/config.py`: each model is one
   scikit-learn Pipeline (scaled scores, one-hot product type, the model), cross-validated on the
   training set (`cv_r2` = mean R2 over `ML_CV_FOLDS` seeded folds), fitted, scored on the test set.
   With `ENVIRONMENT=prod` each fit runs in its own Kubernetes pod (`@task.kubernetes`, image
   `TRAINING_IMAGE`, by default your Astro deployment's own image); with `local`, in a plain task.
3. `store_metrics`: metrics, feature importances and coefficients per model into `model_metrics`.
4. `plot_model_results` (mapped) and `plot_comparison`: PNGs drawn in the task's own temporary folder
   and uploaded to `s3://<DATA_BUCKET_NAME>/<ML_ARTIFACTS_PREFIX>/<run>/plots/` (no task reads another's disk).
5. `publish_best_model`: the model with the best `cv_r2`, serialized with its preprocessing
   (`model.joblib`), and its `model_card.json` (with the SHA-256 of `model.joblib`, which
   `include.finance.ml.load_model` checks before unpickling), uploaded under the same run key.
6. `cleanup` (a teardown task) drops the temporary tables once everything else has finished.
"""

from datetime import datetime, timedelta

from airflow.datasets import Dataset
from airflow.decorators import dag, task
from astro import sql as aql
from astro.table import Metadata, Table

from include.finance import alerts, schema, sql, storage
from include.finance.config import settings
from include.finance.ml import feature_eng

model_satisfaction_dataset = Dataset(settings.model_satisfaction_dataset_uri)


@aql.transform()
def select_model_rows(model_satisfaction: Table, max_rows: int) -> Table:
    return sql.SELECT_MODEL_ROWS


def _train(features: dict, name: str, model_class: str, hyper_parameters: dict, folds: int, seed: int) -> dict:
    from include.finance.ml import train_model

    return train_model(features, name, model_class, hyper_parameters, folds, seed)


if settings.environment == "prod":
    from kubernetes.client import models as k8s

    train_model_task = task.kubernetes(
        image=settings.training_image,
        image_pull_secrets=[k8s.V1LocalObjectReference(name) for name in settings.k8s_image_pull_secrets],
        in_cluster=True,
        namespace=settings.k8s_namespace,
        name="train-model",
        get_logs=True,
        log_events_on_failure=True,
        do_xcom_push=True,
        task_id="train_model_task",
    )(_train)
else:
    train_model_task = task(task_id="train_model_task")(_train)


def _upload(path: str, key: str) -> str:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    S3Hook(aws_conn_id=settings.aws_conn_id).load_file(path, key, bucket_name=settings.data_bucket_name, replace=True)
    return f"s3://{settings.data_bucket_name}/{key}"


@task
def store_metrics(results: list[dict], run_id=None) -> int:
    from contextlib import closing

    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from include.finance.metrics import store_metrics

    with closing(PostgresHook(postgres_conn_id=settings.db_conn_id).get_conn()) as conn:
        return store_metrics(conn, settings.db_schema, schema.MODEL_METRICS, run_id, list(results))


def _plot_and_upload(plot, data, ts_nodash: str) -> str:
    """Draw a plot into a temporary folder of this task and upload it under the run's plots/."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = plot(data, tmp)
        return _upload(path, storage.ml_run_prefix(settings.ml_artifacts_prefix, ts_nodash) + "plots/" + Path(path).name)


@task
def plot_model_results(model_results: dict, ts_nodash=None) -> str:
    from include.finance.ml import plot_model_results

    return _plot_and_upload(plot_model_results, model_results, ts_nodash)


@task
def plot_comparison(results: list[dict], ts_nodash=None) -> str:
    from include.finance.ml import plot_comparison

    return _plot_and_upload(plot_comparison, list(results), ts_nodash)


@task
def publish_best_model(features: dict, results: list[dict], run_id=None, ts_nodash=None,
                       triggering_dataset_events=None) -> dict:
    """Serialize the selected model's Pipeline and its model card to object storage; returns the card."""
    import json
    import tempfile
    from pathlib import Path

    from include.finance import ml, report

    results = list(results)
    best = ml.select_best(results)
    pipeline = ml.fit_best(features, best, settings.ml_seed)
    events = (triggering_dataset_events or {}).get(model_satisfaction_dataset.uri, [])
    source = max(events, key=lambda event: event.timestamp) if events else None
    data = {
        "table": f"{settings.db_schema}.{schema.MODEL_SATISFACTION}",
        "built_by": f"{source.source_dag_id} run {source.source_run_id}" if source else "unknown (manual run)",
        **(source.extra if source else {}),
    }
    prefix = storage.ml_run_prefix(settings.ml_artifacts_prefix, ts_nodash)
    artifacts = {"model": f"s3://{settings.data_bucket_name}/{prefix}model.joblib",
                 "model_card": f"s3://{settings.data_bucket_name}/{prefix}model_card.json",
                 "plots": f"s3://{settings.data_bucket_name}/{prefix}plots/"}
    model_bytes = ml.serialize_model(pipeline)
    card = {"run_id": run_id, **ml.model_card(best, results, features["rows"], data, artifacts, model_bytes)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.joblib").write_bytes(model_bytes)
        (Path(tmp) / "model_card.json").write_text(json.dumps(card, indent=2))
        _upload(str(Path(tmp) / "model.joblib"), prefix + "model.joblib")
        _upload(str(Path(tmp) / "model_card.json"), prefix + "model_card.json")
    print(f"{len(results)} models on {len(features['train'])} training and {len(features['test'])} test rows:\n"
          f"{report.model_table(results)}\n"
          f"best model {best['model']}: cv_r2 {best['cv_r2']:.4f}, test R2 {best['r2_test']:.4f} -> {prefix}")
    return card


@dag(
    start_date=datetime(2026, 1, 1),
    schedule=[model_satisfaction_dataset],
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-science", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "on_failure_callback": alerts.FAILURE_CALLBACKS},
    tags=["finance", "ml", "astro-sdk"],
    doc_md=__doc__,
)
def finance_ml():
    model_rows = select_model_rows(
        Table(conn_id=settings.db_conn_id, name=schema.MODEL_SATISFACTION, metadata=Metadata(schema=settings.db_schema)),
        max_rows=settings.ml_max_rows,
    )
    features = aql.dataframe(task_id="feature_eng")(feature_eng)(
        model_rows,
        test_size=settings.ml_test_size,
        seed=settings.ml_seed,
        min_rows=settings.min_model_rows,
    )
    results = train_model_task.partial(
        features=features, folds=settings.ml_cv_folds, seed=settings.ml_seed
    ).expand_kwargs(settings.models)

    last = [store_metrics(results), plot_model_results.expand(model_results=results), plot_comparison(results),
            publish_best_model(features, results)]

    # drops the temporary tables once every task is done, as in finance_elt
    last >> aql.cleanup(run_sync_mode=True).as_teardown()


finance_ml()
