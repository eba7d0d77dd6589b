"""
### Train, compare and keep models on `model_satisfaction`

Runs whenever `finance_elt` updates a day of `model_satisfaction` (dataset schedule), on that day
(`data_day`: the dataset event's; a manual run takes its conf's `{"ds": "YYYY-MM-DD"}`, else the
newest day in the table).

1. `select_model_rows` (`aql.transform_file`, `include/finance/sql/select_model_rows.sql`, in Postgres):
   the columns the models use, of at most `ML_MAX_ROWS` customers (a fixed pseudo-random sample when the
   table has more), and the table's size for the model card.
   `split_train_test` (`@aql.dataframe`): reads them as a DataFrame, leaves out (and counts) customers
   without survey answers, stops with a clear message if too few rows remain, splits train and test.
2. `start_tracking`: the run's MLflow run (`include/finance/training/tracking.py`) in the experiment
   `MLFLOW_EXPERIMENT`, named `<day> <run key>`, on the server of the connection `mlflow_default` (or
   of MLflow's own variables, where they are set).
   `train_model_task`, mapped over `settings.models` (`include/finance/config.py`): each model is one
   scikit-learn Pipeline (scaled scores, one-hot product type, the model), cross-validated on the
   training set (`cv_r2` = mean R2 over `ML_CV_FOLDS` seeded folds), fitted, scored on the test set,
   and logged as a nested MLflow run of the day's run: hyper-parameters, metrics, and the fitted
   Pipeline as an MLflow model (signature, input example, the SHA-256 of its model.pkl as a tag).
   With `ENVIRONMENT=prod` each fit runs in its own Kubernetes pod (`@task.kubernetes`, image
   `TRAINING_IMAGE`, by default your Astro deployment's own image), which reaches MLflow with MLflow's
   variables from the Kubernetes secret `K8S_MLFLOW_SECRET`; otherwise in a plain task.
3. `store_metrics`: metrics, feature importances and coefficients per model into `model_metrics`.
4. `plot_model_results` (mapped: each model's predicted vs true target on the test set, by product
   type) and `plot_comparison` (every model's cross-validated and test R2 and fit time), uploaded to
   `s3://<DATA_BUCKET_NAME>/<ML_ARTIFACTS_PREFIX>/<run>/plots/` and logged on the model's nested run
   and on the day's run.
5. `publish_best_model`: the model with the best `cv_r2` (in MLflow already, from its training task):
   its `model_card.json` (with its nested run, its model's URI and the SHA-256 of its model.pkl, which
   `include.finance.training.tracking.load_model` checks before unpickling) and `training_rows.csv.gz`, the
   features it learned from, for the drift monitoring of later days, uploaded under the same run key;
   the card also on the day's MLflow run.
6. Models in production (`include/finance/production/steps.py`), on MLflow's model registry: `monitor_model`
   measures the champion (the version with the alias `champion`, serving until now) on the day's rows:
   its R2 and each feature's drift, into `model_monitoring` and as metrics of the day's MLflow run, with
   an alert over `R2_DECAY` / `DRIFT_PSI_THRESHOLD`; `choose_champion` registers the new model as a
   version of `MLFLOW_REGISTERED_MODEL` and promotes it (the alias `champion`) only if it beats the
   champion on the day's held-out rows by `PROMOTION_MARGIN`, else it gets the alias `challenger`; the
   decision and its reason are tags of the version; `predict_customers` loads
   `models:/<MLFLOW_REGISTERED_MODEL>@champion` and writes its prediction for every customer of the
   day into `customer_predictions`, with its version; `plot_monitoring` draws the champion's R2 and the
   features' drift over the days. Every model is loaded only after the SHA-256 of its model.pkl
   matches its version's tag.
7. `cleanup` (a teardown task) drops the temporary tables once everything else has finished.

The work is done in `include/finance/training/` (`ml.py`: features, training, selection; `plots.py`;
`artifacts.py`: the model card and what a run uploads; `tracking.py`: MLflow's runs and models) and
`include/finance/production/` (`steps.py`, each a task, with `registry.py`: the model registry on MLflow;
`monitoring.py`, `drift.py` and `predictions.py`).
"""


from airflow.datasets import Dataset
from airflow.decorators import dag, task
from astro import sql as aql
from astro.table import Metadata, Table

from include.finance import schema, sql, tasks
from include.finance.config import settings
from include.finance.dag_defaults import DAG_DEFAULTS, default_args
from include.finance.operators import CleanupOperator
from include.finance.production import steps
from include.finance.training.ml import split_train_test

model_satisfaction_dataset = Dataset(schema.model_satisfaction_uri())


train_model_task = tasks.training_task()
store_metrics = task(tasks.store_metrics)
plot_model_results = task(tasks.plot_model_results)
plot_comparison = task(tasks.plot_comparison)
monitor_model = task(steps.monitor_model)
choose_champion = task(steps.choose_champion)
predict_customers = task(steps.predict_customers)
plot_monitoring = task(steps.plot_monitoring)


@task
def data_day(triggering_dataset_events=None, dag_run=None) -> str:
    return tasks.data_day(triggering_dataset_events, dag_run.conf)


@task
def publish_best_model(features: dict, results: list[dict], day: str, day_run: dict, run_id=None,
                       triggering_dataset_events=None) -> dict:
    return steps.publish_best_model(features, results, day, day_run, run_id, triggering_dataset_events)


@task(multiple_outputs=False)
def start_tracking(day: str, run_id=None, triggering_dataset_events=None) -> dict:
    return tasks.start_tracking(day, run_id, triggering_dataset_events)


@dag(
    schedule=[model_satisfaction_dataset],
    default_args=default_args("data-science"),
    **DAG_DEFAULTS,
    tags=["finance", "ml", "astro-sdk"],
    doc_md=__doc__,
    template_searchpath=[str(sql.FOLDER)],  # select_model_rows.sql, read when the DAG is parsed
)
def finance_ml():
    model_satisfaction = Table(conn_id=settings.db_conn_id, name=schema.MODEL_SATISFACTION,
                               metadata=Metadata(schema=settings.db_schema))
    day = data_day()
    model_rows = aql.transform_file(
        file_path="select_model_rows.sql",
        parameters={"model_satisfaction": model_satisfaction, "max_rows": settings.ml_max_rows,
                    "day": f"{{{{ ti.xcom_pull(task_ids='{day.operator.task_id}') }}}}"},
        task_id="select_model_rows",
    )
    day >> model_rows
    features = aql.dataframe(task_id="split_train_test")(split_train_test)(
        model_rows,
        test_size=settings.ml_test_size,
        seed=settings.ml_seed,
        min_rows=settings.min_model_rows,
        day=day,
    )
    day_run = start_tracking(day)  # the run in MLflow; each model is a nested run of it
    results = train_model_task.partial(
        features=features, folds=settings.ml_cv_folds, seed=settings.ml_seed, day_run=day_run
    ).expand_kwargs(settings.models)

    card = publish_best_model(features, results, day, day_run)
    # the champion is measured on the day before the day's decision may replace it
    monitored = monitor_model(features, card)
    decided = choose_champion(features, card)
    monitored >> decided
    last = [store_metrics(results), plot_model_results.expand(model_results=results),
            plot_comparison(results, day_run), predict_customers(decided), plot_monitoring(card)]
    monitored >> last[-1]

    # drops the temporary tables once every task is done, as in finance_elt (and with the same operator)
    last >> CleanupOperator(task_id="cleanup", run_sync_mode=True).as_teardown()


finance_ml()
