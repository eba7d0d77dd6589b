"""The Airflow UI in the browser, as a user runs the pipeline: log in, switch the DAGs on, follow the dataset
from finance_elt to finance_ml, see every run succeed (tests/e2e/test_ui.py); then MLflow and the dashboard."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from scripts.stack import AIRFLOW_3, DAG_IDS, UI_PASSWORD, UI_USER, Stack, wait_for

from .browser import Browser
from .dashboard_walk import DashboardWalk
from .mlflow_walk import MLflowWalk


class AirflowUI(DashboardWalk, MLflowWalk, Browser):
    """One logged-in browser session on the local webserver (Airflow 2's); what it saw goes into `seen`."""

    def login(self) -> None:
        from selenium.webdriver.common.by import By

        self.open("/login/")
        self.driver.find_element(By.ID, "username").send_keys(UI_USER)
        self.driver.find_element(By.ID, "password").send_keys(UI_PASSWORD)
        self.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait_for(lambda: self.driver.current_url.rstrip("/").endswith("/home"), 30, "the DAG list after login")
        self.seen["logged_in_as"] = UI_USER

    def dag_list(self) -> dict:
        """The DAG ids on the home page, and the import errors it shows (one 'Broken DAG' alert each)."""
        from selenium.webdriver.common.by import By

        self.open("/home")
        dags = [e.get_attribute("data-dag-id") for e in self.driver.find_elements(By.CSS_SELECTOR, "input[id^=toggle-]")]
        errors = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".alert") if "Broken DAG" in e.text]
        return {"dags": sorted(dags), "import_errors": errors}

    def react_root(self):
        """The shadow root Airflow's React views (grid, graph, datasets) render into."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, "root").shadow_root

    def graph(self) -> dict:
        """The React Flow graph on the page, once drawn: node ids and (source, target) edges.

        The graph is fetched, laid out and drawn in steps, so it counts as drawn when three reads,
        a second apart, agree."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        root = self.react_root()

        def read() -> dict:
            nodes = [e.get_attribute("data-id") for e in root.find_elements(By.CSS_SELECTOR, ".react-flow__node")]
            # an edge's test id is "rf__edge-<source>-<target>"; node ids may hold dashes themselves
            ids = {e.get_attribute("data-testid") for e in root.find_elements(By.CSS_SELECTOR, ".react-flow__edge")}
            edges = [(a, b) for a in nodes for b in nodes if f"rf__edge-{a}-{b}" in ids]
            return {"nodes": sorted(nodes), "edges": sorted(edges)}

        last: list[dict] = []

        def drawn() -> dict | None:
            try:
                # the graph draws only the nodes inside its view, and does not always fit itself to
                # it on load: its own "fit view" button does
                # (clicked by script: on some views the button is drawn under another panel)
                for fit in root.find_elements(By.CSS_SELECTOR, ".react-flow__controls-fitview")[:1]:
                    self.driver.execute_script("arguments[0].click()", fit)
                now = read()
            except StaleElementReferenceException:  # redrawn while being read
                last.clear()
                return None
            settled = now["edges"] and last[-2:] == [now, now]
            last.append(now)
            return now if settled else None

        return wait_for(drawn, 60, "the graph to be drawn")

    def switch_on(self, dag_id: str) -> None:
        """Click the DAG's on/off switch in the DAG list, as a user does, and wait until it took effect.

        The first call logs in and records the DAG list as it is before anything runs. For
        `in_finance_data` the switch is what starts the pipeline: switched on, the @daily DAG runs
        at once for the last complete day, the day `finance_elt`'s sensors wait for."""
        from selenium.webdriver.common.by import By

        if "before" not in self.seen:
            self.login()
            self.seen["before"] = self.dag_list()
            self.screenshot("dag_list")
        self.open("/home")
        switch = self.driver.find_element(By.ID, f"toggle-{dag_id}")
        if not switch.is_selected():
            switch.find_element(By.XPATH, "./..").click()  # the visible <label> around the hidden checkbox
        wait_for(lambda: not self.stack.api("GET", f"dags/{dag_id}")["is_paused"], 30, f"{dag_id} to be switched on")
        self.seen.setdefault("switched_on", []).append(dag_id)
        self.rest()

    def after(self, runs: dict) -> None:
        """Once finance_ml succeeded: the DAG list, the Datasets view and each run's graph, with screenshots."""
        self.seen["after"] = self.dag_list()
        self.screenshot("dag_list_done")
        self.open("/datasets?tab=graph")
        self.seen["dataset_graph"] = self.graph()
        self.screenshot("datasets", graph=True)
        for dag_id in DAG_IDS:
            run_id = urllib.parse.quote(runs[dag_id]["dag_run_id"])
            self.open(f"/dags/{dag_id}/grid?dag_run_id={run_id}&tab=graph")
            self.seen.setdefault("graphs", {})[dag_id] = self.graph()
            self.screenshot(f"graph_{dag_id}", graph=True)
            self.open(f"/dags/{dag_id}/grid?dag_run_id={run_id}&tab=details")
            self.seen.setdefault("run_states", {})[dag_id] = self.run_state_shown()
        self.mlflow(runs)
        self.rest()

    def run_state_shown(self) -> str | None:
        """The state the grid's details panel shows for the selected run."""
        found = []

        def status():
            found[:] = re.findall(r"\bStatus\s+(\w+)", self.text())
            return found

        wait_for(status, 30, "the run's details")
        return found[0]


class Airflow3UI(AirflowUI):
    """Airflow 3's UI (the API server's React app, no shadow root): the same steps on its own pages. It
    names an asset `asset:<id>` in its graphs; `seen` has it as `asset:<uri>`."""

    def login(self) -> None:
        from selenium.webdriver.common.by import By

        self.open("/auth/login")
        self.driver.find_element(By.NAME, "username").send_keys(UI_USER)
        self.driver.find_element(By.NAME, "password").send_keys(UI_PASSWORD)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # enabled once both are filled
        wait_for(lambda: "/auth/login" not in self.driver.current_url, 30, "the UI after login")
        self.seen["logged_in_as"] = UI_USER

    def dag_list(self) -> dict:
        """The DAG ids the DAG list shows (the title of each card), and its import errors (a button says how many)."""
        from selenium.webdriver.common.by import By

        self.open("/dags")
        wait_for(lambda: "Dags" in self.text() and self.driver.find_elements(By.CSS_SELECTOR, "[data-testid=toggle-pause]"),
                 30, "the DAG list")
        links = {e.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]: e.text
                 for e in self.driver.find_elements(By.CSS_SELECTOR, "a[href*='/dags/']")}
        errors = re.findall(r"\d+ Dag Import Errors?", self.text())
        return {"dags": sorted(dag_id for dag_id, text in links.items() if text == dag_id), "import_errors": errors}

    def react_root(self):
        return self.driver

    def switch_on(self, dag_id: str) -> None:
        """Click the switch on the DAG's page (its header's on/off switch), as a user does; see AirflowUI.switch_on."""
        from selenium.webdriver.common.by import By

        if "before" not in self.seen:
            self.login()
            self.seen["before"] = self.dag_list()
            self.screenshot("dag_list")
        self.open(f"/dags/{dag_id}")
        switch = self.driver.find_element(By.CSS_SELECTOR, "[data-testid=toggle-pause]")
        if switch.get_attribute("data-state") != "checked":
            switch.click()
        wait_for(lambda: not self.stack.api("GET", f"dags/{dag_id}")["is_paused"], 30, f"{dag_id} to be switched on")
        self.seen.setdefault("switched_on", []).append(dag_id)
        self.rest()

    def after(self, runs: dict) -> None:
        """Once finance_ml succeeded: the DAG list, the asset's graph and each run's graph, with screenshots."""
        from selenium.webdriver.common.by import By

        self.seen["after"] = self.dag_list()
        self.screenshot("dag_list_done")
        assets = {a["id"]: a["uri"] for a in self.stack.api("GET", "assets")["assets"]}
        [(asset_id, uri)] = assets.items()
        self.open(f"/assets/{asset_id}")
        graph = self.graph()
        name = {f"asset:{asset_id}": f"asset:{uri}"}
        self.seen["dataset_graph"] = {"nodes": sorted(name.get(n, n) for n in graph["nodes"]),
                                      "edges": sorted((name.get(a, a), name.get(b, b)) for a, b in graph["edges"])}
        self.screenshot("datasets", graph=True)
        for dag_id in DAG_IDS:
            run_id = runs[dag_id]["dag_run_id"]
            self.open(f"/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}")
            self.seen.setdefault("run_states", {})[dag_id] = self.run_state_shown(run_id)
            self.driver.find_element(By.CSS_SELECTOR, "button[aria-label^='Show Graph']").click()
            self.seen.setdefault("graphs", {})[dag_id] = self.graph()
            self.screenshot(f"graph_{dag_id}", graph=True)
        self.mlflow(runs)
        self.rest()

    def run_state_shown(self, run_id: str = "") -> str | None:
        """The state the run's page shows next to its id (its header; the breadcrumb has the id too)."""
        states = {"queued", "running", "success", "failed"}
        found = []

        def status():
            found[:] = [w.lower() for w in re.findall(re.escape(run_id) + r"\s+(\w+)", self.text()) if w.lower() in states]
            return found

        wait_for(status, 30, "the run's state")
        return found[0]


def open_ui(stack: Stack, shots: Path, size: tuple[int, int] = (1600, 1000)) -> AirflowUI:
    """The edition's UI in the browser: Airflow 2's webserver or Airflow 3's API server."""
    return (Airflow3UI if AIRFLOW_3 else AirflowUI)(stack, shots, size)
