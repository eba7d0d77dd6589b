"""What every DAG of the pipeline shares (tests/dags/test_dag_policy.py checks it): one run at a time from
the same start date, no catch-up, and the task defaults: an owner, two retries 30 s apart, the failure alert;
the quality gates' retries (none); and the daily schedule of both editions."""

from datetime import datetime, timedelta

from include.finance import alerts

try:
    # Airflow 3 runs a cron schedule at its time with that time as the run's logical date (CronTriggerTimetable):
    # the run at midnight would be of the day that begins, whose files do not exist yet. The data-interval
    # timetable keeps Airflow 2's @daily: the run after midnight UTC is of the day that ended, its `ds`.
    from airflow.sdk import CronDataIntervalTimetable

    DAILY = CronDataIntervalTimetable("@daily", timezone="UTC")
except ImportError:  # Airflow 2
    DAILY = "@daily"

DAG_DEFAULTS = {"start_date": datetime(2026, 1, 1), "catchup": False, "max_active_runs": 1}


def default_args(owner: str) -> dict:
    return {"owner": owner, "retries": 2, "retry_delay": timedelta(seconds=30),
            "on_failure_callback": alerts.FAILURE_CALLBACKS}
