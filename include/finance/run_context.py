"""What a running task knows of its Airflow run, in the core's words: the run's key and the events that triggered
it, the same on both editions."""

from __future__ import annotations

from include.finance.edition import get_current_context


def run_key() -> str:
    """The run's key in the bucket (`ml-runs/<key>/`), also its model's version: its logical date's `ts_nodash`;
    a run Airflow 3 starts for an asset event has no logical date: then when it was due (`run_after`)."""
    context = get_current_context()
    return context.get("ts_nodash") or context["dag_run"].run_after.strftime("%Y%m%dT%H%M%S")


def events_by_uri(events) -> dict:
    """The events that triggered a run by their dataset's (Airflow 2: already) or asset's (Airflow 3) URI."""
    return {getattr(key, "uri", key): list(events[key]) for key in events or {}}
