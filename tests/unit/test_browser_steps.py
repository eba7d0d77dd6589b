"""The browser's steps on the Airflow UI (scripts/ui/airflow.py) leave it on a blank page while the pipeline runs on:
Airflow's pages ask their server for the runs' states every few seconds while a run is active. Selenium's driver and
the stack are recorded stand-ins here; tests/e2e/test_ui.py walks the real pages in Chromium."""

from types import SimpleNamespace

import pytest

from scripts.ui.airflow import Airflow3UI, AirflowUI


class Driver:
    """What the walk asks of Selenium's driver: the pages it opened, a switch that is already on."""

    def __init__(self):
        self.opened = []

    def get(self, url: str) -> None:
        self.opened.append(url)

    def find_element(self, *_):
        return SimpleNamespace(is_selected=lambda: True, get_attribute=lambda name: "checked")


@pytest.mark.parametrize("ui_class", [AirflowUI, Airflow3UI])
def test_switching_a_dag_on_leaves_the_browser_on_a_blank_page(ui_class):
    ui = object.__new__(ui_class)  # no Chromium: the driver is recorded
    ui.driver, ui.seen = Driver(), {"before": {}}
    ui.stack = SimpleNamespace(web_url="http://127.0.0.1:8080", api=lambda method, path: {"is_paused": False})
    ui.switch_on("finance_ml")
    assert ui.driver.opened[0].startswith("http://127.0.0.1:8080/")  # the page with the switch
    assert ui.driver.opened[-1] == "about:blank" and ui.seen["switched_on"] == ["finance_ml"]
