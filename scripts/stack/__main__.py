"""The local stack's command line (the Makefile's targets):

    python -m scripts.stack up      start everything, keep it running (UI on http://localhost:8080)
    python -m scripts.stack down    stop every process `up` started; keep the data (PostgreSQL's
                                    cluster, the S3 objects saved to .local/s3/) for the next `up`
    python -m scripts.stack reset   down, then delete all local state
    python -m scripts.stack run     up, switch the DAGs on, print each task's state changes until the
                                    dataset-triggered finance_ml run succeeds, write include/results/summary.json
                                    (and the run's plots, downloaded from the bucket), down
    python -m scripts.stack airflow ARGS...   the Airflow CLI against the running stack (make airflow ARGS=...)
    python -m scripts.stack parse   import every DAG file, as `astro dev parse` does; no stack needed
    python -m scripts.stack --executor celery up|run   (or EXECUTOR=celery) Airflow's CeleryExecutor with
                                    Redis as broker and two Celery workers instead of the LocalExecutor
    python -m scripts.stack run --data DIR [--timeout SECONDS]   your CSVs instead of mock data
    python -m scripts.stack run --days N   the last N complete days, oldest first (a backfill: the model
                                    registry, predictions and monitoring day by day)

Ports, all on 127.0.0.1: DB_PORT (settings.db_port), LOCAL_S3_PORT, AIRFLOW_WEB_PORT, SCHEDULER_HEALTH_PORT,
LOCAL_REDIS_PORT, LOCAL_MLFLOW_PORT and DASHBOARD_PORT. In Celery mode each worker runs as on a machine of its
own: its own host name, /tmp and working folder, a read-only include/ and its own process tree (Linux namespaces: this needs root).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .airflow import AIRFLOW, EXECUTORS
from .common import DAGS_FOLDER, PROJECT_ROOT, UI_PASSWORD, UI_USER, StackError, log
from .parse import parse, report
from .pipeline import run_pipeline
from .services import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", choices=EXECUTORS, default=os.environ.get("EXECUTOR") or "local",
                        help="local: LocalExecutor (default); celery: CeleryExecutor, Redis and two isolated workers")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "reset", "parse"):
        commands.add_parser(name)
    run = commands.add_parser("run")
    run.add_argument("--data", help="folder with charge/*.csv and satisfaction/*.csv (or *.csv.gz) to use instead of mock data")
    run.add_argument("--days", type=int, default=1,
                     help="run the last N complete days, oldest first (a backfill; default 1)")
    run.add_argument("--timeout", type=float, default=float(os.environ.get("RUN_TIMEOUT", "900")),
                     help="seconds `run` waits for the pipeline (default 900)")
    # everything after `airflow` is the Airflow CLI's, --help included
    commands.add_parser("airflow", add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    stack = Stack(executor=args.executor)
    try:
        if args.command == "up":
            stack.up()
            log(f"running: open {stack.web_url}, log in as {UI_USER} / {UI_PASSWORD}, switch on finance_ml, finance_elt, "
                f"in_finance_data (README: the first ten minutes); the results: {stack.dashboard_url}; `make down`"
                " stops it all and keeps the data")
        elif args.command == "down":
            stack.down()
        elif args.command == "reset":
            stack.reset()
        elif args.command == "run":
            run_pipeline(stack, data_dir=Path(args.data).resolve() if args.data else None, timeout=args.timeout,
                         days=args.days)
        elif args.command == "airflow":
            if not stack.pg_ready():
                raise StackError("the local stack is not running (its metadata database is not there): `make up` first")
            os.chdir(PROJECT_ROOT)
            os.execve(AIRFLOW, [AIRFLOW, *args.args], stack.env())
        else:
            found = parse(DAGS_FOLDER)
            print(report(found), file=sys.stderr if found["errors"] else sys.stdout)
            return 1 if found["errors"] or not found["dags"] else 0
    except StackError as error:
        print(f"[stack] FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
