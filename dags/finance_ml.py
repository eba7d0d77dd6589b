"""
### Train and compare models on `model_satisfaction`

Runs whenever `finance_elt` updates `model_satisfaction` (dataset schedule).

1. `feature_eng` (`@aql.dataframe`): reads the table as a DataFrame; train/test split, scaled scores,
   one-hot product type.
2. `train_model_task`, mapped over the models in `include/finance/config.py` (`MODELS`): fits each
   regressor. With `ENVIRONMENT=prod` each fit runs in its own Kubernetes pod (`@task.kubernetes`,
   image `TRAINING_IMAGE`: your deployment's image); with `local`, in a plain task.
3. `store_metrics`: R2 on train and test and fit seconds per model into the `model_metrics` table.
4. `plot_model_results`, mapped over the results: predicted vs true PNGs under `include/plots/<run>/`.
"""

from datetime import datetime, timedelta

from airflow.datasets import Dataset
from airflow.decorators import dag, task
from astro import sql as aql
from astro.table import Metadata, Table

from include.finance import config
from include.finance.ml import engineer_features


def _train(features: dict, model_class: str, hyper_parameters: dict) -> dict:
    from include.finance.ml import train_model

    return train_model(features, model_class, hyper_parameters)


if config.ENVIRONMENT == "prod":
    train_model_task = task.kubernetes(
        image=config.TRAINING_IMAGE,
        in_cluster=True,
        namespace=config.K8S_NAMESPACE,
        name="train-model",
        get_logs=True,
        log_events_on_failure=True,
        do_xcom_push=True,
        task_id="train_model_task",
    )(_train)
else:
    train_model_task = task(task_id="train_model_task")(_train)


@dag(
    start_date=datetime(2026, 1, 1),
    schedule=[Dataset(config.MODEL_SATISFACTION_DATASET_URI)],
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-science", "retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["finance", "ml", "astro-sdk"],
    doc_md=__doc__,
)
def finance_ml():
    features = aql.dataframe(task_id="feature_eng")(engineer_features)(
        Table(
            conn_id=config.DB_CONN_ID,
            name=config.MODEL_SATISFACTION_TABLE,
            metadata=Metadata(schema=config.DB_SCHEMA),
        ),
        test_size=config.ML_TEST_SIZE,
        seed=config.ML_SEED,
    )

    model_results = train_model_task.partial(features=features).expand_kwargs(config.MODELS)

    @task
    def store_metrics(results: list[dict], run_id=None) -> int:
        from contextlib import closing

        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from include.finance.metrics import store_metrics

        with closing(PostgresHook(postgres_conn_id=config.DB_CONN_ID).get_conn()) as conn:
            return store_metrics(conn, config.DB_SCHEMA, config.MODEL_METRICS_TABLE, run_id, list(results))

    @task
    def plot_model_results(model_results: dict, ts_nodash=None) -> str:
        from include.finance.ml import plot_model_results

        return plot_model_results(model_results, config.PLOTS_DIR / ts_nodash)

    store_metrics(model_results)
    plot_model_results.expand(model_results=model_results)


finance_ml()
