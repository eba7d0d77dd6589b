"""What happens when a task fails for good (after its retries), or a model alert is raised: one clear
line in the log, and the same line to every notifier you add.

Every DAG sets `on_failure_callback=FAILURE_CALLBACKS` in its default_args. `log_failure` writes

    TASK FAILED dag=finance_elt task=load_input_files[1] run=scheduled__2026-11-20T00:00:00+00:00 try=3 error=... log=http://...

at ERROR level: into the task's log, or, for a task whose process died, into the log of the DAG
processor, which then runs the callback. The model monitoring (`production/monitoring.py`) raises drift and decay
alerts without failing anything: `notify_model_alert` writes

    MODEL ALERT dag=finance_ml task=monitor_model run=... ds=2026-11-29 model=... drift: product_type PSI 0.468 > 0.200 ...

at WARNING level into the task's log.
To be told in Slack or by email, append an Airflow notifier to NOTIFIERS: it gets both kinds, with the
line as `alert` in the context it renders its text from (ALERT_TEMPLATE). For example, with
apache-airflow-providers-slack in requirements.txt and a `slack_api_default` connection:

    from airflow.providers.slack.notifications.slack import SlackNotifier
    NOTIFIERS.append(SlackNotifier(text=ALERT_TEMPLATE, channel="#data-alerts"))

or `airflow.providers.smtp.notifications.smtp.SmtpNotifier(to=..., subject=..., html_content=ALERT_TEMPLATE)`.
"""

from __future__ import annotations

import logging

log = logging.getLogger("finance.alerts")

ALERT_TEMPLATE = "{{ alert }}"  # what a notifier sends: the line the log got
NOTIFIERS: list = []


def _notify(context: dict, line: str) -> None:
    for notify in NOTIFIERS:
        notify({**context, "alert": line})


def failure_line(context: dict) -> str:
    ti = context["task_instance"]
    task = f"{ti.task_id}[{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else ti.task_id
    error = " ".join(str(context.get("exception") or "unknown").split())[:300]
    return (f"TASK FAILED dag={ti.dag_id} task={task} run={ti.run_id} try={ti.try_number} "
            f"error={error} log={ti.log_url}")


def log_failure(context: dict) -> None:
    line = failure_line(context)
    log.error(line)
    _notify(context, line)


FAILURE_CALLBACKS: list = [log_failure]


def notify_model_alert(context: dict, alert: str) -> None:
    ti = context["task_instance"]
    line = f"MODEL ALERT dag={ti.dag_id} task={ti.task_id} run={ti.run_id} {alert}"
    log.warning(line)
    _notify(context, line)
