"""The Airflow UI in headless Chromium, as a user meets it: log in, see the DAGs, switch them on,
follow the dataset from finance_elt to finance_ml, see every run succeed (scripts/ui/airflow.py)."""

from pathlib import Path

import pytest

from include.finance import schema
from include.finance.config import Settings
from scripts.stack import AIRFLOW_3, DAG_IDS

KIND = "asset" if AIRFLOW_3 else "dataset"  # what the UI calls it

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dataset(stack) -> str:
    """The dataset URI the stack's Airflow processes build: their settings name the stack's database."""
    return schema.model_satisfaction_uri(Settings.from_env(stack.env()))


def test_the_user_logs_in_and_sees_the_three_dags_without_import_errors(browser):
    assert browser["logged_in_as"] == "admin"
    assert browser["before"] == {"dags": sorted(DAG_IDS), "import_errors": []}
    assert browser["after"] == {"dags": sorted(DAG_IDS), "import_errors": []}


def test_switching_the_dags_on_in_the_ui_runs_the_pipeline(browser):
    # consumer first, so no dataset event finds finance_ml paused; in_finance_data's switch starts the day
    assert browser["switched_on"] == ["finance_ml", "finance_elt", "in_finance_data"]
    assert browser["run_states"] == {dag_id: "success" for dag_id in DAG_IDS}


def test_the_datasets_view_shows_finance_elt_feeding_finance_ml(browser, dataset):
    graph = browser["dataset_graph"]  # Airflow 3: the asset's page
    assert ("dag:finance_elt", f"{KIND}:{dataset}") in graph["edges"]
    assert (f"{KIND}:{dataset}", "dag:finance_ml") in graph["edges"]
    assert not [edge for edge in graph["edges"] if edge[0] == "dag:in_finance_data"]  # files, not datasets


def test_each_run_graph_shows_the_tasks_in_order(browser, dataset):
    elt, ml = browser["graphs"]["finance_elt"]["edges"], browser["graphs"]["finance_ml"]["edges"]
    assert {("check_input_files", "create_tables"), ("create_tables", "load_input_files")} <= set(elt)
    if AIRFLOW_3:  # its run graph draws the tasks only (the asset is on the asset's page)
        assert {("publish_model_satisfaction", "cleanup"), ("data_day", "select_model_rows")} <= set(elt) | set(ml)
    else:
        assert ("publish_model_satisfaction", dataset) in elt
        # the dataset's condition node leads into the run (not drawn to select_model_rows, whose Table inlet
        # Airflow seems to count as its upstream)
        assert (dataset, "and-gate-0") in ml and any(source == "and-gate-0" for source, _ in ml)
    assert ("select_model_rows", "split_train_test") in ml
    assert {("split_train_test", "train_model_task"), ("train_model_task", "publish_best_model")} <= set(ml)
    assert "upload_part" in browser["graphs"]["in_finance_data"]["nodes"]


def test_the_mlflow_ui_shows_the_days_run_with_a_nested_run_per_model_and_the_champion_version(browser):
    from include.finance.config import settings

    # the day's run, opened on its nested runs: a row per model (the experiment also holds earlier runs)
    assert browser["mlflow_nested_rows"] == sorted(m["name"] for m in settings.models)
    model = browser["mlflow_model"]
    assert settings.mlflow_registered_model in model and "Version 1" in model and "@ champion" in model
    assert "finance.decision\n: promoted" in model


def test_screenshots_are_real_pictures(browser):
    from PIL import Image

    names = {Path(p).stem for p in browser["screenshots"]}
    assert {"dag_list", "dag_list_done", "datasets", "mlflow_runs", "mlflow_model",
            *(f"graph_{d}" for d in DAG_IDS)} <= names
    for path in browser["screenshots"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 100, path
            assert len(set(image.convert("L").getdata())) > 10, f"{path} is blank"
