"""What happens when a task fails for good (after its retries): one clear line, plus any notifier you add.

Every DAG sets `on_failure_callback=FAILURE_CALLBACKS` in its default_args. `log_failure` writes

    TASK FAILED dag=finance_elt task=load_input_files[1] run=scheduled__2026-11-20T00:00:00+00:00 try=3 error=... log=http://...

at ERROR level: into the task's log, or, for a task whose process died, into the log of the DAG
processor, which then runs the callback.
To be told in Slack or by email, append an Airflow notifier to FAILURE_CALLBACKS, for example (with
apache-airflow-providers-slack in requirements.txt and a `slack_api_default` connection):

    from airflow.providers.slack.notifications.slack import SlackNotifier
    FAILURE_CALLBACKS.append(SlackNotifier(text=FAILURE_TEMPLATE, channel="#data-alerts"))

or `airflow.providers.smtp.notifications.smtp.SmtpNotifier(to=..., subject=..., html_content=FAILURE_TEMPLATE)`.
Notifiers render FAILURE_TEMPLATE with Jinja against the same context.

Model alerts (drift and decay, `monitoring.py`) go the same way without failing anything:
`notify_model_alert` writes `MODEL ALERT <what>` at WARNING into the task's log and calls every
notifier of MODEL_ALERT_CALLBACKS with the task's context and `alert` set to the line, e.g.
`MODEL_ALERT_CALLBACKS.append(SlackNotifier(text=MODEL_ALERT_TEMPLATE, channel="#data-alerts"))`.
"""

from __future__ import annotations

import logging

log = logging.getLogger("finance.alerts")

FAILURE_TEMPLATE = (
    "TASK FAILED dag={{ ti.dag_id }} task={{ ti.task_id }}{% if ti.map_index >= 0 %}[{{ ti.map_index }}]{% endif %}"
    " run={{ ti.run_id }} try={{ ti.try_number }} error={{ exception }} log={{ ti.log_url }}"
)


def failure_line(context: dict) -> str:
    ti = context["task_instance"]
    task = f"{ti.task_id}[{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else ti.task_id
    error = " ".join(str(context.get("exception") or "unknown").split())[:300]
    return (f"TASK FAILED dag={ti.dag_id} task={task} run={ti.run_id} try={ti.try_number} "
            f"error={error} log={ti.log_url}")


def log_failure(context: dict) -> None:
    log.error(failure_line(context))


FAILURE_CALLBACKS: list = [log_failure]


MODEL_ALERT_TEMPLATE = "MODEL ALERT dag={{ ti.dag_id }} run={{ ti.run_id }} {{ alert }}"
MODEL_ALERT_CALLBACKS: list = []


def notify_model_alert(context: dict, line: str) -> None:
    log.warning("MODEL ALERT %s", line)
    for notify in MODEL_ALERT_CALLBACKS:
        notify({**context, "alert": line})
