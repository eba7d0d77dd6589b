"""The results dashboard (dashboard/app.py) in the browser, as an analyst uses it."""

from __future__ import annotations

import time
import urllib.error

from include.finance import sql
from include.finance.schema import CUSTOMER_PREDICTIONS, LOAD_AUDIT
from scripts.stack import AIRFLOW_3, settings, wait_for

# the dashboard's pages: (path, the title its header begins with)
DASHBOARD_PAGES = (("", "Day overview"), ("quality", "Data quality"), ("models", "Models"), ("customers", "Customers"))


class DashboardWalk:
    """The dashboard's pages (a `Browser`'s): each page as it shows, the day picker, the search, the download."""

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
        self.rest()
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

    def stack_days(self) -> set[str]:
        """The days with a load in the stack's database."""
        return {ds for ds, in self.stack_rows(sql.statement("stack/loaded_days.sql", settings.db_schema,
                                                                   load_audit=LOAD_AUDIT))}

    def known_customer(self, ds: str) -> str:
        """A customer of day `ds` with a prediction: the one the walk searches for."""
        [(customer,)] = self.stack_rows(sql.statement("stack/a_predicted_customer.sql", settings.db_schema,
                                                             customer_predictions=CUSTOMER_PREDICTIONS), ds)
        return customer
