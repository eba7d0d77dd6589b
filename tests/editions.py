"""What a test needs to know of the edition it runs on (the venv's Airflow: make test AIRFLOW=3 runs the
Airflow 3 edition's): its DAG folder, its lock, and the few Airflow names that moved."""

from scripts.stack.common import AIRFLOW_3, DAGS_FOLDER, LOCK

ASTRO_SDK_ONLY = "the Astro SDK edition's (Airflow 2): the Airflow 3 edition has no Astro SDK"

if AIRFLOW_3:
    from airflow.sdk.definitions.mappedoperator import MappedOperator
else:
    from airflow.models.mappedoperator import MappedOperator

__all__ = ["AIRFLOW_3", "ASTRO_SDK_ONLY", "DAGS_FOLDER", "LOCK", "MappedOperator", "dagbag", "consumed_uris"]


def dagbag(folder=DAGS_FOLDER):
    """The DagBag of `folder` (a folder or a file), without Airflow's examples."""
    if AIRFLOW_3:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=str(folder))
    from airflow.models import DagBag

    return DagBag(dag_folder=str(folder), include_examples=False)


def consumed_uris(dag) -> set[str]:
    """The URIs of the datasets (assets) a DAG is scheduled on."""
    if AIRFLOW_3:
        return {asset.uri for asset in dag.timetable.asset_condition.objects}
    return {uri for uri, _ in dag.timetable.dataset_condition.iter_datasets()}
