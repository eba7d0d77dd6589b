"""What the MLflow server holds after a pipeline run, read back from the server while the run's stack is up (the
tests read it from the run's record: no server started again after the stack went down)."""

from include.finance.config import settings


def mlflow_view(stack) -> dict:
    """Every run of the experiment (tags, metrics, the files under its `plots`), the registry's entry of each
    finance_ml run that registered a version (by run key), the champion, and the champion's model loaded through
    models:/<name>@champion (its SHA-256 checked first)."""
    from include.finance.production import registry
    from include.finance.training import tracking

    client = stack.mlflow_client()
    experiment = client.get_experiment_by_name(settings.mlflow_experiment).experiment_id
    found = {run.info.run_id: {"tags": dict(run.data.tags), "metrics": dict(run.data.metrics),
                               "plots": {a.path for a in client.list_artifacts(run.info.run_id, "plots")}}
             for run in client.search_runs([experiment], max_results=1000)}
    keys = {run["tags"][tracking.RUN_KEY] for run in found.values() if tracking.RUN_KEY in run["tags"]}
    serving = registry.champion(client)
    return {"runs": found, "entries": {key: registry.of_run(client, key) for key in keys}, "champion": serving,
            "champion_model": tracking.load_model(client, f"models:/{settings.mlflow_registered_model}@champion",
                                                  serving["model_sha256"], "the champion")}
