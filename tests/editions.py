"""What a test needs to know of the edition it runs on (the venv's Airflow: make test AIRFLOW=3 runs the
Airflow 3 edition's): its DAG folder, its lock, the few Airflow names that moved, and how a test of the
other edition says so when it skips."""

from include.finance import edition
from scripts.stack.common import AIRFLOW_3, DAGS_FOLDER, LOCK

# Every skip of a test that belongs to the other edition gives a reason that starts with EDITION_ONLY
# (write it as edition_only(...)): that is the one skip of a database or end-to-end test that CI accepts
# (tests/ci_skips.py); any other skip there is a missing service or tool and fails a run under CI=true.
EDITION_ONLY = "edition only: "


def edition_only(reason: str) -> str:
    """The skip reason of a test that belongs to the other edition."""
    return EDITION_ONLY + reason


ASTRO_SDK_ONLY = edition_only("the Astro SDK edition's (Airflow 2): the Airflow 3 edition has no Astro SDK")
AIRFLOW_3_ONLY = edition_only("the Airflow 3 edition's (the Task SDK, assets): make test AIRFLOW=3 runs this")

__all__ = ["AIRFLOW_3", "AIRFLOW_3_ONLY", "ASTRO_SDK_ONLY", "DAGS_FOLDER", "EDITION_ONLY", "LOCK", "MappedOperator",
           "consumed_uris", "dagbag", "edition_only"]


def __getattr__(name: str):
    # imported when asked for: the CI skip rule (tests/ci_skips.py) reads EDITION_ONLY without importing Airflow
    if name == "MappedOperator":
        return edition.MappedOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dagbag(folder=DAGS_FOLDER):
    """The DagBag of `folder` (a folder or a file), without Airflow's examples ([core] load_examples is off)."""
    return edition.DagBag(dag_folder=str(folder))


def consumed_uris(dag) -> set[str]:
    """The URIs of the datasets (assets) a DAG is scheduled on."""
    if AIRFLOW_3:
        return {asset.uri for asset in dag.timetable.asset_condition.objects}
    return {uri for uri, _ in dag.timetable.dataset_condition.iter_datasets()}
