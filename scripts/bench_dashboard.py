"""The results dashboard's pages on the state a pipeline run leaves: each page's server time, first with an empty
cache and then cached, against the same page's SQL statements alone.

    make bench-dashboard     (= .venv/bin/python -m scripts.bench_dashboard: on the stack `make up` started)

`make bench SCALE=N` runs it too, on its own stack after its run: at SCALE=1000 the day holds millions of charges.

A page's server time is what its footer says ("page built in 0.42 s"): from the start of the page's script to its
last line, the database's answers, the REST calls to Airflow (Day overview) and the page's elements included,
the browser's drawing not. Each page is opened in headless Chromium right after the dashboard was restarted (its
cache empty: the first page also fills the day picker's cache, which the others then share), then once more
(cached); then the Customers page searches for a customer, twice. The baseline, measured in the same run: the page's
statements (`dashboard/queries.py`, the same ones, in the same order) on one read-only connection, the best of
three rounds. The target: at most `TARGET_SECONDS` per page.
"""

from __future__ import annotations

import re
import sys
import time
from contextlib import closing
from pathlib import Path

from dashboard import queries
from include.finance import sql
from include.finance.report import text_table
from include.finance.schema import PREDICTION_SUMMARY
from scripts.stack import Stack, StackError, log, settings
from scripts.ui import DASHBOARD_PAGES, AirflowUI

TARGET_SECONDS = 2.0
# the statements each page runs (dashboard/app.py), in its order; "search" is the Customers page searching
PAGE_QUERIES = {
    "overview": ["days", "load_by_kind", "day_counts", "decision", "files"],
    "quality": ["days", "rejects_by_reason", "reject_sample", "input_audit", "quality_history"],
    "models": ["days", "decision", "leaderboard", "monitoring_history"],
    "customers": ["days", "prediction_summary", "predictions", "unpredicted"],
    "search": ["predictions"],
}
BUILT = re.compile(r"page built in ([\d.]+) s")


def built_seconds(seen: dict) -> float:
    """The server time a page's footer reports."""
    found = BUILT.search(seen["footer"])
    if not found:
        raise StackError(f"the page's footer does not say how long it took: {seen['footer']!r}")
    return float(found.group(1))


def sql_seconds(stack: Stack, ds: str, customer: str, rounds: int = 3) -> dict[str, float]:
    """Each page's statements on one read-only connection, the best of `rounds`."""
    database = queries.Database.from_env(stack.dashboard_env())
    best: dict[str, float] = {}
    with closing(database.connect()) as conn:
        for _ in range(rounds):
            for page, names in PAGE_QUERIES.items():
                started = time.perf_counter()
                for name in names:
                    args = () if name == "days" else (ds,)
                    params = {"search": customer} if page == "search" else {}
                    getattr(queries, name)(conn, database.schema, *args, **params)
                seconds = time.perf_counter() - started
                best[page] = min(best.get(page, seconds), seconds)
    return best


def page_seconds(stack: Stack, shots: Path) -> dict:
    """Each page's server time on the newest day, cold and cached, beside its SQL alone: {"ds", "pages": rows}."""
    log("the dashboard restarted: its cache empty")
    stack._stop("dashboard")
    stack.start_dashboard()
    cold, cached = {}, {}
    with AirflowUI(stack, shots) as ui:
        days = sorted(ui.stack_days())  # the pages show the newest by default
        summarised = (days and ui.stack_rows(sql.read("schema/exists.sql"), sql.quoted(settings.db_schema, PREDICTION_SUMMARY))[0][0]
                      and ui.stack_rows(sql.compose("schema/day_rows.sql", table=(settings.db_schema, PREDICTION_SUMMARY)),
                                        days[-1])[0][0])
        if not summarised:
            raise StackError(f"the newest day loaded, {days[-1] if days else 'none'}, has no predictions summarised"
                             " (prediction_summary): make run first")
        ds, customer = days[-1], ui.known_customer(days[-1])
        for rounds in (cold, cached):
            for path, title in DASHBOARD_PAGES:
                rounds[path or "overview"] = built_seconds(ui.dashboard_page(path, title))
        for rounds in (cold, cached):
            rounds["search"] = built_seconds(ui.search_customer(customer))
    alone = sql_seconds(stack, ds, customer)
    return {"ds": ds, "pages": [
        {"page": page, "cold_s": cold[page], "cached_s": cached[page], "sql_s": round(alone[page], 3),
         "cold_over_sql": round(cold[page] / alone[page], 1), "cold_over_target": round(cold[page] / TARGET_SECONDS, 2)}
        for page in PAGE_QUERIES]}


def report(measured: dict) -> None:
    print(f"the dashboard's pages on {measured['ds']} (server time from each page's footer; target {TARGET_SECONDS:g} s):")
    print(text_table(measured["pages"], {"page": "", "cold_s": ".2f", "cached_s": ".2f", "sql_s": ".3f",
                                         "cold_over_sql": ".1f", "cold_over_target": ".2f"}))


def main() -> int:
    stack = Stack()
    try:
        report(page_seconds(stack, stack.state_dir / "screenshots"))
    except StackError as error:
        print(f"[bench-dashboard] FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
