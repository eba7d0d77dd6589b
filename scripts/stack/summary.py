"""What a pipeline run produced, read from the database, the bucket, Airflow's REST API and MLflow's (never
from a worker's folder): include/results/summary.json and the lines `make run` prints."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

from psycopg2 import sql as pgsql

from include.finance import sql
from include.finance.contract import CONTRACTS
from include.finance.ingestion.bucket import ml_run_prefix
from include.finance.report import model_table
from include.finance.schema import (CUSTOMER_PREDICTIONS, LOAD_AUDIT, MODEL_INPUT_AUDIT, MODEL_METRICS,
                                    MODEL_MONITORING, MODEL_SATISFACTION)

from .api import run_task_instances
from .common import PROJECT_ROOT, settings
from .s3 import inside, s3_client

MODEL_INPUT = ("successful_charges", "other_currency_charges", "implausible_charges", "survey_answers", "orphan_surveys")
AUDIT = ("kind", "file", "rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped", "note")
METRICS = ("model", "cv_r2", "cv_r2_std", "r2_train", "r2_test", "fit_seconds")
REGISTRY = ("version", "run_key", "ds", "model", "status", "aliases", "decision", "reason", "candidate_r2", "champion_r2",
            "incumbent_version")
MONITORING = ("model_version", "metric", "feature", "value", "threshold", "alert")


def select(cur, table: str, columns: tuple[str, ...] = (), largest_first: str = "", **where) -> list[dict]:
    """Rows of settings.db_schema.`table` (`columns`, or their count) where each column equals its value."""
    fields = pgsql.SQL(", ").join(map(pgsql.Identifier, columns)) if columns else pgsql.SQL("count(*) AS count")
    conditions = pgsql.SQL(" AND ").join(pgsql.SQL("{} = %s").format(pgsql.Identifier(c)) for c in where)
    query = sql.compose(
        "stack/select.sql", fields=fields, table=(settings.db_schema, table),
        where=pgsql.SQL(" WHERE {}").format(conditions) if where else pgsql.SQL(""),
        order=pgsql.SQL(" ORDER BY {} DESC").format(pgsql.Identifier(largest_first)) if largest_first else pgsql.SQL(""))
    cur.execute(query, tuple(where.values()))
    return [dict(zip([d.name for d in cur.description], row)) for row in cur.fetchall()]


def ml_version(ml_run: dict) -> str:
    """A finance_ml run's key in the bucket, which the model registry calls its model's version."""
    # run_context.run_key: Airflow 3 starts an asset-triggered run without a logical date, due at its run_after
    return dt.datetime.fromisoformat(ml_run.get("logical_date") or ml_run["run_after"]).strftime("%Y%m%dT%H%M%S")


def ml_artifacts_prefix(ml_run: dict) -> str:
    """Where a finance_ml run (from the REST API) uploaded its model, card and plots."""
    return ml_run_prefix(settings.ml_artifacts_prefix, ml_version(ml_run))


def production(cur, client, each_day: list[dict]) -> dict:
    """Per day run: the model registry's decision (from MLflow), the monitoring rows, the predictions written back."""
    from include.finance.production import registry

    days = {}
    for runs in each_day:
        ds = runs["finance_elt"]["logical_date"][:10]
        entry = registry.of_run(client, ml_version(runs["finance_ml"]))
        predictions = select(cur, CUSTOMER_PREDICTIONS, ("model_version", "predicted_amount_cents", "reason"), ds=ds)
        days[ds] = {
            "decision": {k: entry[k] for k in REGISTRY},
            "monitoring": sorted(select(cur, MODEL_MONITORING, MONITORING, ds=ds),
                                 key=lambda r: (r["metric"], r["feature"])),
            "predictions": {"customers": len(predictions),
                            "predicted": sum(p["predicted_amount_cents"] is not None for p in predictions),
                            "reasons": dict(Counter(p["reason"] for p in predictions if p["reason"])),
                            "model_versions": sorted({p["model_version"] for p in predictions})},
        }
    return days


def tracking(stack, client) -> dict:
    """Where the runs and models are in MLflow, read back from its server: the experiment, the registered model and
    the version with the alias `champion`."""
    from include.finance.production import registry

    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    champion = registry.champion(client)
    return {"tracking_uri": stack.mlflow_url, "experiment": settings.mlflow_experiment,
            "experiment_id": experiment.experiment_id,
            "runs": len(client.search_runs([experiment.experiment_id], max_results=1000)),
            "registered_model": settings.mlflow_registered_model,
            "versions": len(client.search_model_versions(f"name = '{settings.mlflow_registered_model}'")),
            "champion": champion and {"version": champion["version"], "alias": registry.CHAMPION,
                                      "model": champion["model"], "trained_on": champion["ds"],
                                      "uri": f"models:/{settings.mlflow_registered_model}@{registry.CHAMPION}"}}


def summary(stack, runs: dict, plots_dir: Path, each_day: list[dict] | None = None) -> dict:
    """The run's summary (of its last day, with `production` for every day in `each_day`); its plots are
    downloaded from the bucket into `plots_dir`."""
    import psycopg2

    ds, ml_run = runs["finance_elt"]["logical_date"][:10], runs["finance_ml"]
    client = stack.mlflow_client()
    with psycopg2.connect(stack.db_uri(settings.db_name)) as conn, conn.cursor() as cur:
        # the day's rows
        tables = {table: select(cur, table, ds=ds)[0]["count"]
                  for table in [c.table for c in CONTRACTS.values()] + [MODEL_SATISFACTION, CUSTOMER_PREDICTIONS]}
        tables[MODEL_METRICS] = select(cur, MODEL_METRICS)[0]["count"]
        [model_input] = select(cur, MODEL_INPUT_AUDIT, MODEL_INPUT, ds=ds)
        audit = sorted(select(cur, LOAD_AUDIT, AUDIT, ds=ds), key=lambda a: (a["kind"], a["file"]))
        models = select(cur, MODEL_METRICS, METRICS, largest_first="cv_r2", run_id=ml_run["dag_run_id"])
        days = production(cur, client, each_day or [runs])
    conn.close()
    hosts = Counter(ti["hostname"] or "(none)" for run in runs.values() for ti in run_task_instances(stack, run))

    def seconds(run: dict) -> float:
        return round((dt.datetime.fromisoformat(run["end_date"]) - dt.datetime.fromisoformat(run["start_date"]))
                     .total_seconds(), 1)

    return {
        "tables": tables,
        "rejected": {c.table: sum(a["rows_rejected"] for a in audit if a["kind"] == kind) for kind, c in CONTRACTS.items()},
        "audit": audit,
        "model_input": model_input,
        "objects": object_counts(stack),
        "models": models,
        "model_card": json.loads(get_object(stack, ml_artifacts_prefix(ml_run) + "model_card.json")),
        "mlflow": tracking(stack, client),
        "days": days,
        "plots": sorted(str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else str(p)
                        for p in download(stack, ml_artifacts_prefix(ml_run) + "plots/", plots_dir)),
        "executor": stack.executor,
        "task_hosts": dict(sorted(hosts.items())),
        "durations": {dag_id: seconds(run) for dag_id, run in runs.items()},
        "runs": {dag_id: {k: run[k] for k in ("dag_run_id", "run_type", "state", "logical_date")}
                 for dag_id, run in runs.items()},
        "ml_runs": {day["finance_elt"]["logical_date"][:10]: day["finance_ml"]["dag_run_id"] for day in each_day or [runs]},
    }


def get_object(stack, key: str) -> bytes:
    return s3_client(stack).get_object(Bucket=settings.data_bucket_name, Key=key)["Body"].read()


def download(stack, prefix: str, folder: Path) -> list[Path]:
    """The objects under `prefix` in the data bucket, downloaded into `folder` (emptied first)."""
    client, bucket = s3_client(stack), settings.data_bucket_name
    shutil.rmtree(folder, ignore_errors=True)
    paths = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):  # a folder's marker
                paths.append(inside(folder, item["Key"][len(prefix):]))
                paths[-1].parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(paths[-1]))
    return paths


def object_counts(stack) -> dict[str, int]:
    """Objects in the data bucket per folder (`charge/dt=2026-11-20`, `ml-runs/20261121T...`, `xcom`)."""
    counts: Counter = Counter()
    for page in s3_client(stack).get_paginator("list_objects_v2").paginate(Bucket=settings.data_bucket_name):
        for item in page.get("Contents", []):
            counts["/".join(item["Key"].split("/")[:-1][:2])] += 1  # at most two levels: ml-runs/<run>
    return dict(sorted(counts.items()))


def print_summary(summary: dict, path: Path) -> None:
    card, left = summary["model_card"], summary["model_input"]
    print("\nPipeline finished.", flush=True)
    print("  rows: " + ", ".join(f"{t}={n}" for t, n in summary["tables"].items()))
    print("  rejected rows (see table load_rejects): " + ", ".join(f"{t}={n}" for t, n in summary["rejected"].items()))
    print("  DAG seconds: " + ", ".join(f"{d}={s}" for d, s in summary["durations"].items()))
    print(f"  executor: {summary['executor']}; task instances per host: "
          + ", ".join(f"{h}={n}" for h, n in summary["task_hosts"].items()))
    print("  " + model_table(summary["models"]).replace("\n", "\n  "))
    print(f"  best model {card['model']} (cv_r2 {card['metrics']['cv_r2']:.4f}): {card['mlflow']['model_uri']}")
    print(f"  left out of model_satisfaction (see table model_input_audit): {left['other_currency_charges']} charges"
          f" in other currencies, {left['implausible_charges']} implausible amounts; {left['orphan_surveys']} survey"
          " answers without charges")
    print(f"  rows left out of training (no survey answers): {card['rows']['without_survey']}")
    for ds, day in summary["days"].items():
        decision, predictions = day["decision"], day["predictions"]
        alerts = [f"{r['feature']} {r['metric'].upper()} {r['value']:.3f}".lstrip() for r in day["monitoring"] if r["alert"]]
        verdict = "promoted" if decision["status"] != "candidate" else "not promoted"
        print(f"  {ds}: version {decision['version']} ({decision['model']}) {verdict}: {decision['reason']}")
        print("    monitoring: " + ("no champion before it" if not day["monitoring"] else
                                     f"alerts: {', '.join(alerts)}" if alerts else "no alert")
              + f"; customer_predictions: {predictions['predicted']} of {predictions['customers']} customers by version "
              + ", ".join(predictions["model_versions"])
              + "".join(f", {n} without a prediction ({reason})" for reason, n in predictions["reasons"].items()))
    mlflow, champion = summary["mlflow"], summary["mlflow"]["champion"]
    print(f"  MLflow {mlflow['tracking_uri']}: experiment {mlflow['experiment']} ({mlflow['runs']} runs), registered"
          f" model {mlflow['registered_model']} (versions: {mlflow['versions']}), "
          + (f"champion: version {champion['version']} ({champion['model']}, trained on {champion['trained_on']}),"
             f" {champion['uri']}" if champion else "no champion"))
    print(f"  plots: {', '.join(summary['plots'])}")
    print(f"  summary: {path}", flush=True)
