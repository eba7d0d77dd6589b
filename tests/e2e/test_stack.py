"""`make up` / `make down` (scripts/stack/): down leaves no process behind and keeps the data."""

from contextlib import closing

import psycopg2
import pytest

from scripts.stack import (
    AIRFLOW_3,
    AIRFLOW_PROCESSES,
    CELERY_WORKERS,
    METADATA_TEMPLATE,
    group_alive,
    metadata_template_key,
    running,
    s3_client,
    settings,
)
from tests.e2e.conftest import saved_objects

pytestmark = pytest.mark.integration


def _alive(pid: int, group: bool) -> bool:
    return group_alive(pid) if group else running(pid)


def _services(run) -> set[str]:
    """What `up` started for the run's executor (less the Celery worker the test killed)."""
    if run["summary"]["executor"] == "local":
        return {"s3", "postgres", "mlflow", "dashboard", *AIRFLOW_PROCESSES}
    return {"s3", "postgres", "mlflow", "dashboard", "redis", *AIRFLOW_PROCESSES, *CELERY_WORKERS} - {run["kill"]["worker"]}


def test_down_stops_every_process_it_started(run, services_pids):
    assert set(services_pids) == _services(run)
    # each service ran in its own process group (gunicorn workers and task runners included)
    left = [name for name, pid in services_pids.items() if _alive(pid, group=name != "postgres")]
    assert left == []


def test_down_leaves_no_process_of_the_project_behind(run):
    """Every process whose command line or working folder is inside the project (scheduler, gunicorn
    workers, task processes, Celery workers, PostgreSQL), not only the ones `up` recorded."""
    fault = run["restart" if run["summary"]["executor"] == "local" else "kill"]  # while a task ran
    during = fault["processes"]
    web = "api-server" if AIRFLOW_3 else "gunicorn"  # the process serving the UI
    assert any("scheduler" in p for p in during) and any(web in p for p in during), during
    assert any("postgres" in p.split(": ", 1)[1] for p in during), during
    if run["summary"]["executor"] == "local":
        task = f"airflow worker -- {fault['load_ti']}" if AIRFLOW_3 else "airflow task runner: finance_elt load_input_files"
        assert any(task in p for p in during), during
    else:
        assert all(any(name in p and "celery worker" in p for p in during) for name in CELERY_WORKERS), during
    assert run["left_after_down"] == []


def test_down_keeps_the_objects_and_up_restores_them(stack, run):
    kept = run["saved_after_down"]  # what the run's own `down` saved
    # the registered model's file, in the MLflow server's artifacts (mlflow-artifacts:/ is the bucket's mlflow/)
    model_uri = run["summary"]["model_card"]["mlflow"]["model_uri"]
    model_key = "mlflow/" + model_uri.removeprefix("mlflow-artifacts:/") + "/model.pkl"
    assert model_key in kept
    # the run's day (a session that crosses midnight UTC also has the next day's scheduled runs)
    assert {f"manifests/dt={run['summary']['runs']['finance_elt']['logical_date'][:10]}/{kind}.json"
            for kind in ("charge", "satisfaction")} <= {f for f in kept if f.startswith("manifests/")}
    # up puts back what the last down saved, whichever run's it was
    bucket, files = settings.data_bucket_name, saved_objects(stack)
    saved = stack.s3_saved / bucket
    stack.start_s3()  # empty, as every moto server starts
    try:
        stack.restore_s3()
        client = s3_client(stack)
        keys = sorted(item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                      for item in page.get("Contents", []))
        assert keys == files
        restored = client.get_object(Bucket=bucket, Key=model_key)["Body"].read()
        assert restored == (saved / model_key).read_bytes()
    finally:
        stack.stop_s3()


def test_the_run_started_from_a_copy_of_the_migrated_metadata_template(stack, pipeline):
    """`make run` begins with an empty metadata database: a copy of a template migrated for this lock."""
    with closing(psycopg2.connect(stack.db_uri("postgres"))) as conn, conn.cursor() as cur:
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                    (METADATA_TEMPLATE,))
        assert cur.fetchone() == (metadata_template_key(),)
    found = {}
    for database in ("airflow", METADATA_TEMPLATE):
        with closing(psycopg2.connect(stack.db_uri(database))) as conn, conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            version = cur.fetchall()
            cur.execute("SELECT count(*) FROM dag_run")
            found[database] = (version, cur.fetchone()[0])
    (version, template_runs), (run_version, runs) = found[METADATA_TEMPLATE], found["airflow"]
    assert len(version) == 1 and run_version == version  # migrated to the head of the locked Airflow
    assert template_runs == 0 and runs >= 3  # the pipeline's runs went into the copy only


def test_every_listener_of_the_stack_is_on_loopback(run, stack):
    """Read from the listening sockets of every process the stack started, while it ran."""
    found = run["listeners"]
    assert {service for service, _, _ in found} == {"s3", "postgres", "mlflow", "dashboard", "scheduler",
                                                    AIRFLOW_PROCESSES[-1]} | (
        {"redis"} if run["summary"]["executor"] == "celery" else set())
    assert {port for _, _, port in found} == {stack.s3_port, stack.pg_port, stack.mlflow_port, stack.dashboard_port,
                                              stack.health_port, stack.web_port} | (
        {stack.redis_port} if run["summary"]["executor"] == "celery" else set())
    assert [entry for entry in found if entry[1] != "127.0.0.1"] == []
