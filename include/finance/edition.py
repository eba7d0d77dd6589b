"""The one edition switch: which Airflow runs here, and each Airflow name the core, the stack and the tests take
that moved between Airflow 2 and Airflow 3. Nothing else checks a version or catches an ImportError to find out.

`AIRFLOW_3` comes from the installed distribution, without importing Airflow (the root conftest reads it before
Airflow is configured). The names are imported when first asked for: those the locked common-compat provider maps
(`airflow.providers.common.compat.sdk`: the Task SDK's on Airflow 3, their Airflow 2 homes otherwise) from there,
the few it does not map from `_MOVED`. `DAILY` is the daily schedule both editions run on.
"""

from __future__ import annotations

import importlib
import importlib.metadata

AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")
AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3

# what the core, the stack and the tests take from common-compat's sdk
COMPAT_NAMES = ("AirflowException", "AirflowFailException", "BaseHook", "MappedOperator", "get_current_context", "task")
# names common-compat does not map: name -> (its Airflow 3 module, its Airflow 2 module)
_MOVED = {"DagBag": ("airflow.dag_processing.dagbag", "airflow.models.dagbag")}

__all__ = ["AIRFLOW_3", "AIRFLOW_VERSION", "DAILY", "DagBag", *COMPAT_NAMES]


def _daily():
    """The daily schedule. Airflow 3 runs a cron schedule at its time with that time as the run's logical date
    (CronTriggerTimetable): the run at midnight would be of the day that begins, whose files do not exist yet. The
    data-interval timetable keeps Airflow 2's @daily: the run after midnight UTC is of the day that ended, its `ds`."""
    if not AIRFLOW_3:
        return "@daily"
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable("@daily", timezone="UTC")


def __getattr__(name: str):
    if name in COMPAT_NAMES:
        from airflow.providers.common.compat import sdk

        return getattr(sdk, name)
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name][0 if AIRFLOW_3 else 1]), name)
    if name == "DAILY":
        return _daily()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
