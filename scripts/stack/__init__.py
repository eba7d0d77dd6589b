"""The local stack without Docker: a private PostgreSQL cluster, moto's S3 server, Airflow (and Redis
with two Celery workers in Celery mode). `python -m scripts.stack --help` (the Makefile) says how to run it.
The edition is the Airflow of the Python running it (`.venv`: Airflow 2, `.venv-airflow3`: Airflow 3).

PostgreSQL holds Airflow's metadata (database `airflow`) and the pipeline's data (the local profile's
`settings.db_name`). Everything lives under one folder (`.local/`, `.local/airflow3/` for Airflow 3; git-ignored); every
listener is on 127.0.0.1. DAG code sees only Airflow connections, exactly as under `astro dev start`.

    common     settings (the local profile), errors, waiting, process checks
    postgres   the cluster            s3        moto's endpoint, saved and restored
    redis      Celery's broker        airflow   Airflow's environment and processes
    services   `Stack`: all of them, up and down
    api        the REST API client (v1 and a session, v2 and a token), triggering and watching task states
    pipeline   `make run`             summary   what a run produced
    parse      `make parse`           __main__  the command line
"""

from include.finance.airflow_api import AirflowAPI

from .airflow import AIRFLOW_PROCESSES, CELERY_WORKERS, EXECUTORS, METADATA_TEMPLATE, isolated, metadata_template_key
from .api import TaskWatch, task_states, trigger, unpause
from .common import (AIRFLOW_3, AIRFLOW_VERSION, DAG_IDS, DAGS_FOLDER, LOCAL, LOCK, PROJECT_ROOT, UI_PASSWORD, UI_USER,
                     StackError, group_alive, log, reap, running, settings, wait_for)
from .pipeline import last_complete_day, run_pipeline
from .postgres import find_pg_bin
from .s3 import s3_client
from .services import SERVICES, Stack, services_unavailable
from .summary import ml_artifacts_prefix

__all__ = ["AIRFLOW_3", "AIRFLOW_VERSION", "DAGS_FOLDER", "LOCAL", "LOCK", "AIRFLOW_PROCESSES", "CELERY_WORKERS", "DAG_IDS", "EXECUTORS", "METADATA_TEMPLATE", "PROJECT_ROOT", "SERVICES",
           "UI_PASSWORD", "UI_USER", "AirflowAPI", "Stack", "StackError", "TaskWatch", "find_pg_bin", "group_alive",
           "isolated", "last_complete_day", "log", "metadata_template_key", "ml_artifacts_prefix", "reap",
           "run_pipeline", "running", "s3_client", "services_unavailable", "settings", "task_states", "trigger",
           "unpause", "wait_for"]
