"""The Airflow UI in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (`apt-get install chromium chromium-driver`; nothing is downloaded at run time).

    python -m scripts.ui pictures   (make pictures) run the pipeline as `make run` does, switching the
                                    DAGs on in the browser, and write the README's pictures to docs/images/:
                                    the DAG graphs and the Datasets view as the UI shows them after the
                                    run, the MLflow UI's runs and registered model, each page of the
                                    results dashboard, the model comparison
                                    and the best model's plot; then four days
                                    shifted from the third, for the model monitoring's plot

The end-to-end tests drive their pipeline run through the same `AirflowUI` (tests/e2e/test_ui.py). The parts:
browser.py (Chromium), airflow.py (the Airflow UI, both editions), mlflow_walk.py, dashboard_walk.py, pictures.py.
"""

from .airflow import Airflow3UI, AirflowUI, open_ui
from .browser import chromium_unavailable
from .dashboard_walk import DASHBOARD_PAGES

__all__ = ["DASHBOARD_PAGES", "Airflow3UI", "AirflowUI", "chromium_unavailable", "open_ui"]
