"""The MLflow UI in the browser: the day's run with its nested runs, the registered model and its aliases."""

from __future__ import annotations

import urllib.parse

from scripts.stack import settings, wait_for


class MLflowWalk:
    """The MLflow UI (a `Browser`'s) after a run."""

    def mlflow(self, runs: dict) -> None:
        """The MLflow UI after the run: the experiment's runs with the day's run opened on its nested runs (one per
        model), and the registered model's versions with their aliases, with screenshots. The browser logs in with
        HTTP basic auth once (a page whose URL holds the login cannot fetch), then opens the pages without it."""
        from selenium.webdriver.common.by import By

        from include.finance.production.registry import CHAMPION
        from scripts.stack.mlflow import MLFLOW_USER

        url = self.stack.mlflow_url
        self.driver.get(url.replace("://", f"://{MLFLOW_USER}:{urllib.parse.quote(self.stack.mlflow_password)}@")
                        + "/api/2.0/mlflow/experiments/search?max_results=1")
        client = self.stack.mlflow_client()
        experiment = client.get_experiment_by_name(settings.mlflow_experiment)
        [day_run] = client.search_runs([experiment.experiment_id],
                                       f"tags.`airflow.dag_run_id` = '{runs['finance_ml']['dag_run_id']}'")
        self.driver.get(f"{url}/#/experiments/{experiment.experiment_id}/runs")
        name = day_run.info.run_name
        wait_for(lambda: name in self.text(), 60, f"the run {name} in the MLflow UI")
        for close in self.driver.find_elements(By.CSS_SELECTOR, "button[aria-label=Close]"):  # the assistant's panel
            close.click()
        self.driver.find_elements(By.CSS_SELECTOR, f"[row-id='{day_run.info.run_id}'] button")[0].click()  # expand
        nested = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{day_run.info.run_id}'")

        def nested_rows() -> list[str]:  # the run name in each nested run's row of the grid (ag-grid's row-id)
            rows = (self.driver.find_elements(By.CSS_SELECTOR, f"[row-id='{run.info.run_id}']") for run in nested)
            return [run.info.run_name for run, row in zip(nested, rows) if row and run.info.run_name in row[0].text]

        wait_for(lambda: len(nested_rows()) == len(nested) > 0, 30, "the nested runs in the MLflow UI")
        self.seen["mlflow_nested_rows"] = sorted(nested_rows())
        self.screenshot("mlflow_runs")
        self.driver.get(f"{url}/#/models/{settings.mlflow_registered_model}")
        wait_for(lambda: CHAMPION in self.text(), 60, "the registered model's champion alias in the MLflow UI")
        self.seen["mlflow_model"] = self.text()
        self.screenshot("mlflow_model")
