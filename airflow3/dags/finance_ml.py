"""
### Train, compare and keep models on `model_satisfaction` (Airflow 3 edition)

The same tasks, models, artifacts, MLflow runs and model registry and production steps as the default
edition's `dags/finance_ml.py` (its description says what each task does), with Airflow 3's own pieces where
that one uses the Astro SDK (docs/airflow3.md): scheduled on the asset `finance_elt` emits;
`select_model_rows` runs the same `include/finance/sql/select_model_rows.sql` and returns its rows as a
DataFrame (instead of `aql.transform_file` + `aql.dataframe`), which Airflow 3's XCom carries to
`split_train_test`; no table to clean up.
"""

from airflow.sdk import Asset, dag, task

from include.finance import schema, tasks
from include.finance.config import settings
from include.finance.dag_defaults import DAG_DEFAULTS, default_args
from include.finance.production import steps
from include.finance.training.ml import split_train_test

model_satisfaction_asset = Asset(schema.model_satisfaction_uri())

train_model_task = tasks.training_task()
store_metrics = task(tasks.store_metrics)
plot_model_results = task(tasks.plot_model_results)
plot_comparison = task(tasks.plot_comparison)
monitor_model = task(steps.monitor_model)
choose_champion = task(steps.choose_champion)
predict_customers = task(steps.predict_customers)
plot_monitoring = task(steps.plot_monitoring)


@task
def data_day(triggering_asset_events=None, dag_run=None) -> str:
    return tasks.data_day(triggering_asset_events, dag_run.conf)


@task
def select_model_rows(day: str):
    """The day's rows the models use (select_model_rows.sql), as a DataFrame."""
    from include.finance.operators_airflow3 import select_rows

    return select_rows("select_model_rows.sql", {"model_satisfaction": schema.MODEL_SATISFACTION},
                       {"day": day, "max_rows": settings.ml_max_rows})


@task(multiple_outputs=False)  # the card travels whole
def publish_best_model(features: dict, results: list[dict], day: str, day_run: dict, run_id=None,
                       triggering_asset_events=None) -> dict:
    return steps.publish_best_model(features, results, day, day_run, run_id, triggering_asset_events)


@task(multiple_outputs=False)
def start_tracking(day: str, run_id=None, triggering_asset_events=None) -> dict:
    return tasks.start_tracking(day, run_id, triggering_asset_events)


@dag(
    schedule=[model_satisfaction_asset],
    default_args=default_args("data-science"),
    **DAG_DEFAULTS,
    tags=["finance", "ml", "airflow-3"],
    doc_md=__doc__,
)
def finance_ml():
    day = data_day()
    features = task(task_id="split_train_test")(split_train_test)(
        select_model_rows(day),
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


finance_ml()
