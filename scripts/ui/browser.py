"""The browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver (`apt-get install
chromium chromium-driver`; nothing is downloaded at run time). Selenium is imported where it is used: the
project's image (`astro dev pytest`) does not have it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from scripts.stack import Stack, StackError, settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


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


class Browser:
    """One browser session on the local stack's pages; what it saw goes into `seen`."""

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

    def __enter__(self) -> Browser:
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

    def open(self, path: str) -> None:
        self.driver.get(self.stack.web_url + path)

    def rest(self) -> None:
        """Leave the page for a blank one while the pipeline goes on without the browser: Airflow's pages ask their
        server for the runs' states every few seconds while a run is active (Airflow 2's DAG list: four requests
        every `auto_refresh_interval`, 3 s), which costs the cores the tasks need. The next step opens its page."""
        self.driver.get("about:blank")

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

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

    def stack_rows(self, query: str, *params) -> list[tuple]:
        """The rows of `query` on the stack's database (where the walk finds a day to switch to, a customer to
        search for)."""
        import psycopg2

        with psycopg2.connect(self.stack.db_uri(settings.db_name)) as conn, conn.cursor() as cur:
            cur.execute(query, params or None)
            rows = cur.fetchall()
        conn.close()
        return rows
