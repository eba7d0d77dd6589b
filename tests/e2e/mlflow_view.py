"""What the MLflow server holds after a pipeline run, read back from the server while the run's stack is up (the
tests read it from the run's record: no server started again after the stack went down)."""

from include.finance.config import settings


def mlflow_view(stack, runs: dict) -> dict:
    """Every run of the experiment (tags, metrics, the files under its `plots`), the registry's entry of each
    finance_ml run that registered a version (by run key), the champion, and the champion loaded through
    models:/<name>@champion (its SHA-256 checked first) scoring the answered rows of the run's day (R2)."""
    import pandas as pd
    import psycopg2
    from sklearn.metrics import r2_score

    from include.finance.production import registry
    from include.finance.training import ml, tracking

    client = stack.mlflow_client()
    experiment = client.get_experiment_by_name(settings.mlflow_experiment).experiment_id
    found = {run.info.run_id: {"tags": dict(run.data.tags), "metrics": dict(run.data.metrics),
                               "plots": {a.path for a in client.list_artifacts(run.info.run_id, "plots")}}
             for run in client.search_runs([experiment], max_results=1000)}
    keys = {run["tags"][tracking.RUN_KEY] for run in found.values() if tracking.RUN_KEY in run["tags"]}
    serving = registry.champion(client)
    champion = tracking.load_model(client, f"models:/{settings.mlflow_registered_model}@champion",
                                   serving["model_sha256"], "the champion")  # the whole Pipeline: raw columns in, cents out
    with psycopg2.connect(stack.db_uri(settings.db_name)) as conn:
        day = pd.read_sql("SELECT * FROM public.model_satisfaction WHERE ds = %(ds)s", conn,
                          params={"ds": runs["finance_elt"]["logical_date"][:10]})
    conn.close()
    answered = day.dropna()
    return {"runs": found, "entries": {key: registry.of_run(client, key) for key in keys}, "champion": serving,
            "champion_r2_on_day": r2_score(answered[ml.TARGET], champion.predict(answered[ml.FEATURES]))}
