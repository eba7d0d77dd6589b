"""What every DAG of the pipeline shares (tests/dags/test_dag_policy.py checks it): one run at a time from
the same start date, no catch-up, and the task defaults: an owner, two retries TASK_RETRY_DELAY apart (30 s),
the failure alert; the quality gates' retries (none); and the daily schedule of both editions."""

from datetime import datetime, timedelta

from include.finance import alerts, edition
from include.finance.config import settings

DAILY = edition.DAILY

DAG_DEFAULTS = {"start_date": datetime(2026, 1, 1), "catchup": False, "max_active_runs": 1}


def default_args(owner: str) -> dict:
    return {"owner": owner, "retries": 2, "retry_delay": timedelta(seconds=settings.task_retry_delay),
            "on_failure_callback": alerts.FAILURE_CALLBACKS}
