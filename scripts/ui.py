"""The Airflow UI in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (`apt-get install chromium chromium-driver`; nothing is downloaded at run time).

    python -m scripts.ui pictures   (make pictures) run the pipeline as `make run` does, switching the
                                    DAGs on in the browser, and write the README's pictures to docs/images/:
                                    the DAG graphs and the Datasets view as the UI shows them after the
                                    run, the MLflow UI's runs and registered model, each page of the
                                    results dashboard, the model comparison
                                    and the best model's plot; then four days
                                    shifted from the third, for the model monitoring's plot

The end-to-end tests drive their pipeline run through the same `AirflowUI` (tests/e2e/test_ui.py).
Selenium is imported where it is used: the project's image (`astro dev pytest`) does not have it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
import urllib.error
import urllib.parse
from pathlib import Path

from include.finance import sql
from include.finance.schema import CUSTOMER_PREDICTIONS, LOAD_AUDIT
from scripts.stack import (AIRFLOW_3, DAG_IDS, PROJECT_ROOT, UI_PASSWORD, UI_USER, Stack, StackError, log, run_pipeline, settings,
                           wait_for)
from scripts.stack.pipeline import forget_models, run_days

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
IMAGES = PROJECT_ROOT / "docs" / "images"


def chromium_unavailable() -> str | None:
    """Why the browser cannot run here (None if it can); the browser test skips with this reason."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver "
                "(or set CHROMIUM and CHROMEDRIVER)")
    return None


def crash_handlers() -> list:
    """Chromium's crash handler processes on this machine."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any("chrome_crashpad_handler" in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


# the dashboard's pages: (path, the title its header begins with)
DASHBOARD_PAGES = (("", "Day overview"), ("quality", "Data quality"), ("models", "Models"), ("customers", "Customers"))


class AirflowUI:
    """One logged-in browser session on the local webserver; what it saw goes into `seen`."""

    def __init__(self, stack: Stack, shots: Path, size: tuple[int, int] = (1600, 1000)):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        reason = chromium_unavailable()
        if reason:
            raise StackError(reason)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={size[0]},{size[1]}"):
            options.add_argument(argument)
        self.downloads = shots / "downloads"  # what a page's download button saves
        options.add_experimental_option("prefs", {"download.default_directory": str(self.downloads),
                                                  "download.prompt_for_download": False})
        self.crash_handlers_before = {p.pid for p in crash_handlers()}
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.implicitly_wait(10)
        self.stack = stack
        self.shots = shots
        self.seen: dict = {"screenshots": []}

    def __enter__(self) -> AirflowUI:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Quit the browser, and wait for the crash handlers it started: Chromium starts them detached (their
        parent is init), and they outlive the quit by a moment; the stack's tests check that none is left."""
        import psutil

        self.driver.quit()
        _, alive = psutil.wait_procs([p for p in crash_handlers() if p.pid not in self.crash_handlers_before], timeout=10)
        for proc in alive:
            proc.kill()

    # --- pages ---------------------------------------------------------------------------------
    def open(self, path: str) -> None:
        self.driver.get(self.stack.web_url + path)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

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

    def screenshot(self, name: str, graph: bool = False) -> Path:
        """A PNG under `shots` of the page, or with `graph` of its React Flow graph alone."""
        from selenium.webdriver.common.by import By

        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        time.sleep(1)  # let the page settle (auto-refresh, the graph's layout)
        if graph:
            flow = self.react_root().find_element(By.CSS_SELECTOR, ".react-flow")
            # the zoom buttons, the minimap and the dotted background do not belong in a picture
            self.driver.execute_script(
                "arguments[0].querySelectorAll('.react-flow__panel, .react-flow__background').forEach(e => e.style.display = 'none')", flow)
            flow.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))
        self.seen["screenshots"].append(str(path))
        return path

    # --- the pipeline, as a user runs it ---------------------------------------------------------
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

    def mlflow(self, runs: dict) -> None:
        """The MLflow UI after the run: the experiment's runs with the day's run opened on its nested runs (one per
        model), and the registered model's versions with their aliases, with screenshots. The browser logs in with
        HTTP basic auth once (a page whose URL holds the login cannot fetch), then opens the pages without it."""
        from selenium.webdriver.common.by import By

        from include.finance.registry import CHAMPION
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

    # --- the results dashboard ---------------------------------------------------------------------
    def dashboard_page(self, path: str, title: str) -> dict:
        """Open a page of the dashboard and wait until it has run: what it shows (`streamlit_seen`)."""
        self.driver.get(f"{self.stack.dashboard_url}/{path}")
        return self.streamlit_seen(title)

    def streamlit_seen(self, title: str) -> dict:
        """The Streamlit page once its script has run (its footer is there, no element of an earlier run is, its
        header begins with `title` or it says why it has none): the header, each metric (label: value), the alerts'
        texts, the rows of each table (its index first), how many exception boxes it shows, and its footer."""
        from selenium.webdriver.common.by import By

        def find(css: str, within=None) -> list:
            return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

        def ready() -> dict | None:
            self.driver.implicitly_wait(0)
            try:
                headers = [h.text for h in find("h2") if h.text.startswith(title)]
                alerts = [a.text for a in find("[data-testid=stAlertContainer]")]
                ended = [c for c in find("[data-testid=stCaptionContainer]") if c.text.startswith("Figures as of")]
                # the page's script ran to its last line (the footer), and no element is left of an earlier run
                if not ended or find("[data-stale=true]") or not (headers or alerts):
                    return None
                return {"header": headers[0] if headers else None, "alerts": alerts, "footer": ended[0].text,
                        "metrics": {find("[data-testid=stMetricLabel]", m)[0].text:
                                    find("[data-testid=stMetricValue]", m)[0].text for m in find("[data-testid=stMetric]")},
                        "tables": [[[cell.text for cell in find("th, td", row)] for row in find("tbody tr", table)]
                                   for table in find("[data-testid=stTable]")],
                        "exceptions": len(find("[data-testid=stException]"))}
            finally:
                self.driver.implicitly_wait(10)

        return wait_for(ready, 60, f"the dashboard's page {title}")

    def choose(self, label: str, option: str) -> None:
        """Pick `option` in the Streamlit select box labelled `label`."""
        from selenium.webdriver.common.by import By

        box = next(b for b in self.driver.find_elements(By.CSS_SELECTOR, "[data-testid=stSelectbox]") if label in b.text)
        box.find_element(By.CSS_SELECTOR, "[role=combobox], input").click()
        next(o for o in self.driver.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == option).click()

    def dashboard(self, runs: dict) -> dict:
        """The results dashboard after the run, as an analyst uses it: each page of the run's day (the newest),
        with a screenshot; the day picker switched to another loaded day; a customer searched for; the shown
        customers downloaded as CSV. Returns what it saw (also in seen["dashboard"])."""
        from selenium.webdriver.common.by import By

        from dashboard.queries import airflow_api

        ds = runs["finance_elt"]["logical_date"][:10]
        seen = self.seen.setdefault("dashboard", {"ds": ds, "pages": {}})
        # the Airflow UI's link to it (plugins/finance_dashboard.py): Airflow 2's menu item, Airflow 3's external view
        items = "external_views" if AIRFLOW_3 else "appbuilder_menu_items"
        seen["airflow_links"] = [item["href"] for plugin in self.stack.api("GET", "plugins")["plugins"]
                                 for item in plugin.get(items) or [] if item["name"] == "Results dashboard"]
        # its Airflow user reads and may change nothing (a PATCH that would change nothing, were it allowed)
        try:
            airflow_api(self.stack.dashboard_env())("PATCH", "dags/finance_ml?update_mask=is_paused", {"is_paused": False})
            seen["airflow_user_patch"] = 200
        except urllib.error.HTTPError as error:
            seen["airflow_user_patch"] = error.code
        if not AIRFLOW_3:  # in the page's menu
            self.open("/home")
            seen["airflow_menu_links"] = len(self.driver.find_elements(
                By.CSS_SELECTOR, f"a[href='{self.stack.dashboard_url}']"))
        for path, title in DASHBOARD_PAGES:
            seen["pages"][path or "overview"] = self.dashboard_page(path, title)
            seen["pages"][path or "overview"]["links"] = {
                a.text: a.get_attribute("href") for a in self.driver.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] a")
                if a.get_attribute("href") and a.text}
            self.screenshot(f"dashboard_{path or 'overview'}")
        other = sorted(self.stack_days() - {ds})
        if other:  # another day: the picker changes every figure
            self.dashboard_page("", "Day overview")
            self.choose("Day", other[0])
            time.sleep(1)  # the rerun has begun: what is left of the last run is stale until it is replaced
            seen["other_day"] = {"ds": other[0], **self.streamlit_seen(f"Day overview: {other[0]}")}
        seen["search"] = self.search_customer(self.known_customer(ds))
        self.driver.find_element(By.CSS_SELECTOR, "[data-testid=stDownloadButton] button").click()
        target = self.downloads / f"customer_predictions_{ds}.csv"
        wait_for(lambda: target.exists() and not list(self.downloads.glob("*.crdownload")), 30, f"the download {target}")
        seen["download"] = target.read_text()
        return seen

    def search_customer(self, customer: str) -> dict:
        """The Customers page after searching for `customer`: what it shows (`streamlit_seen`)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.dashboard_page("customers", "Customers")
        search = self.driver.find_element(By.CSS_SELECTOR, "[data-testid=stTextInput] input")
        search.send_keys(customer, Keys.ENTER)
        time.sleep(1)  # the rerun has begun: what is left of the last run is stale until it is replaced
        return {"customer": customer, **self.streamlit_seen("Customers")}

    def stack_rows(self, query: str, *params) -> list[tuple]:
        """The rows of `query` on the stack's database (where the walk finds a day to switch to, a customer to
        search for)."""
        import psycopg2

        with psycopg2.connect(self.stack.db_uri(settings.db_name)) as conn, conn.cursor() as cur:
            cur.execute(query, params or None)
            rows = cur.fetchall()
        conn.close()
        return rows

    def stack_days(self) -> set[str]:
        """The days with a load in the stack's database."""
        return {ds for ds, in self.stack_rows(sql.statement("stack/loaded_days.sql", settings.db_schema,
                                                                   load_audit=LOAD_AUDIT))}

    def known_customer(self, ds: str) -> str:
        """A customer of day `ds` with a prediction: the one the walk searches for."""
        [(customer,)] = self.stack_rows(sql.statement("stack/a_predicted_customer.sql", settings.db_schema,
                                                             customer_predictions=CUSTOMER_PREDICTIONS), ds)
        return customer

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


def small_png(source: Path, target: Path, size: tuple[int, int] = (2400, 1000)) -> str:
    """`source` without its blank margins, at most `size`, in 64 colours: a picture for the README."""
    from PIL import Image, ImageChops

    with Image.open(source) as image:
        image = image.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, image.getpixel((0, 0)))).getbbox()
    if box:
        image = image.crop((max(box[0] - 10, 0), max(box[1] - 10, 0),
                            min(box[2] + 10, image.width), min(box[3] + 10, image.height)))
    image.thumbnail(size)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.convert("P", palette=Image.ADAPTIVE, colors=64).save(target, optimize=True)
    return f"{target}: {image.width}x{image.height}, {target.stat().st_size // 1024} KiB"


SHIFT_DAYS, SHIFTED_FROM = 4, 3  # the monitoring picture: four days, shifted from the third


def pictures(stack: Stack, images: Path = IMAGES) -> None:
    """Run the pipeline through the browser and keep the README's pictures; then, from no champion,
    four days shifted from the third (`MOCK_DATA_SHIFT_FROM=<day> make run DAYS=4`) for the monitoring's."""
    shots = stack.state_dir / "screenshots"
    with open_ui(stack, shots, size=(2400, 1000)) as ui:  # wide: finance_elt's graph is one long row
        summary = run_pipeline(stack, switch_on=lambda _, dag_id: ui.switch_on(dag_id),
                               after=lambda _, runs: (ui.after(runs), ui.dashboard(runs)))
    plots = {Path(p).name: PROJECT_ROOT / p for p in summary["plots"]}
    now = dt.datetime.now(dt.timezone.utc)
    forget_models(stack)
    stack.extra_env["MOCK_DATA_SHIFT_FROM"] = f"{run_days(now, SHIFT_DAYS)[SHIFTED_FROM - 1]:%Y-%m-%d}"
    shifted = run_pipeline(stack, days=SHIFT_DAYS, clock=lambda: now,
                           summary_path=stack.state_dir / "pictures-shift" / "summary.json")
    for source, name in ((shots / "graph_finance_elt.png", "finance_elt_graph.png"),
                         (shots / "graph_finance_ml.png", "finance_ml_graph.png"),
                         (shots / "datasets.png", "datasets.png"),
                         (shots / "mlflow_runs.png", "mlflow_runs.png"),
                         (shots / "mlflow_model.png", "mlflow_model.png"),
                         (plots["comparison.png"], "comparison.png"),
                         (plots[f"{summary['model_card']['model']}.png"], "best_model.png"),
                         (PROJECT_ROOT / next(p for p in shifted["plots"] if p.endswith("/monitoring.png")), "monitoring.png"),
                         *((shots / f"dashboard_{page or 'overview'}.png", f"dashboard_{page or 'overview'}.png")
                           for page, _ in DASHBOARD_PAGES)):
        log(small_png(source, images / name))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("pictures",))
    parser.parse_args(argv)
    try:
        pictures(Stack())
    except StackError as error:
        print(f"[ui] FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
