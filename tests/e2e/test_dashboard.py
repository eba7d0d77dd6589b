"""The results dashboard in headless Chromium (scripts/ui/dashboard_walk.py `DashboardWalk.dashboard`): after the LocalExecutor run
and its gate-tripping days, every page of the run's day renders, and what it shows equals what the database holds
(read here with SQL of the test's own); another day, a customer search, the CSV download. Then the dashboard on a
fresh database, and on one it cannot reach."""

import csv
import io
import os
import signal
import subprocess

import psycopg2
import pytest
from psycopg2 import sql

from scripts.stack import settings, wait_for
from scripts.ui import DASHBOARD_PAGES, chromium_unavailable
from tests.conftest import free_port

pytestmark = pytest.mark.integration

SCHEMA = settings.db_schema


@pytest.fixture(scope="session")
def dashboard(local_run) -> dict:
    reason = chromium_unavailable()
    if reason:
        pytest.skip(f"no browser here: {reason}")
    return local_run["dashboard"]


def one(finance_db, query: str, *params):
    with finance_db, finance_db.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchone()


def loads(finance_db, ds: str) -> dict:
    files, read, rejected = one(finance_db, f'SELECT count(*), sum(rows_read), sum(rows_rejected) FROM "{SCHEMA}".load_audit'
                                            " WHERE ds = %s", ds)
    return {"Files read": f"{files:,}", "Rows read": f"{read:,}", "Rows rejected": f"{rejected:,}"}


def test_every_page_of_the_day_renders_without_an_exception(dashboard):
    ds = dashboard["ds"]
    for path, title in DASHBOARD_PAGES:
        page = dashboard["pages"][path or "overview"]
        assert page["exceptions"] == 0, page
        assert page["header"] == f"{title}: {ds}", page
        assert not [a for a in page["alerts"] if "failed" in a or "cannot be reached" in a], page["alerts"]


def test_the_overview_counts_the_days_files_rows_and_predictions_as_the_database_holds_them(dashboard, finance_db):
    ds, shown = dashboard["ds"], dashboard["pages"]["overview"]["metrics"]
    assert {label: shown[label] for label in ("Files read", "Rows read", "Rows rejected")} == loads(finance_db, ds)
    predicted, version = one(finance_db, f'SELECT count(predicted_amount_cents), max(model_version) FROM "{SCHEMA}"'
                                         ".customer_predictions WHERE ds = %s", ds)
    assert predicted > 0 and shown["Customers predicted"] == f"{predicted:,}" and shown["Model version"] == version


def test_the_overview_shows_each_dags_run_of_the_day_in_the_state_airflow_has_it(dashboard, local_run):
    """Read through Airflow's REST API as the dashboard's read-only user; compared with the runs the pipeline run
    recorded through the admin's."""
    [runs] = [table for table in dashboard["pages"]["overview"]["tables"] if table and table[0][0] == "in_finance_data"]
    recorded = local_run["summary"]["runs"]
    assert [row[:3] for row in runs] == [[dag_id, recorded[dag_id]["dag_run_id"], recorded[dag_id]["state"]]
                                         for dag_id in ("in_finance_data", "finance_elt", "finance_ml")]
    assert {state for _, _, state, _ in runs} == {"success"}
    assert dashboard["airflow_user_patch"] == 403  # that user may not change a DAG


def gates_shown(page: dict) -> list[list[str]]:
    """The overview's table of finance_elt's gates: [gate, result] rows."""
    [gates] = [table for table in page["tables"] if table and table[0][0].rsplit(".", 1)[-1].startswith("check_")]
    return gates


def test_the_overview_shows_whether_each_gate_of_finance_elts_run_passed(dashboard, local_run):
    gates = sorted({t["task_id"] for t in local_run["task_tries"]
                    if t["dag_id"] == "finance_elt" and t["task_id"].rsplit(".", 1)[-1].startswith("check_")})
    assert gates and gates_shown(dashboard["pages"]["overview"]) == [[gate, "passed"] for gate in gates]
    # a gate-tripping day: finance_elt stopped at its gates
    assert "failed" in {result for _, result in gates_shown(dashboard["other_day"])}


def test_the_models_page_puts_the_days_best_model_first(dashboard, finance_db, local_run):
    run_id = local_run["summary"]["runs"]["finance_ml"]["dag_run_id"]
    with finance_db, finance_db.cursor() as cur:
        cur.execute(f'SELECT model FROM "{SCHEMA}".model_metrics WHERE run_id = %s ORDER BY cv_r2 DESC', (run_id,))
        ranked = [row[0] for row in cur.fetchall()]
    page = dashboard["pages"]["models"]
    assert len(ranked) == len(settings.models) and page["metrics"]["Best model"] == ranked[0]
    assert [row[0] for row in page["tables"][0]] == ranked  # the leaderboard, best first


def test_the_data_quality_page_counts_the_days_rejected_rows(dashboard, finance_db):
    ds, shown = dashboard["ds"], dashboard["pages"]["quality"]["metrics"]
    [rejected] = one(finance_db, f'SELECT count(*) FROM "{SCHEMA}".load_rejects WHERE ds = %s', ds)
    assert shown["Rows rejected"] == f"{rejected:,}"


def test_switching_the_day_shows_that_days_figures_and_says_what_is_missing(dashboard, finance_db):
    other = dashboard["other_day"]
    assert other["header"] == f"Day overview: {other['ds']}" and other["exceptions"] == 0
    assert {label: other["metrics"][label] for label in ("Files read", "Rows read", "Rows rejected")} == loads(
        finance_db, other["ds"])
    assert other["metrics"]["Rows read"] != dashboard["pages"]["overview"]["metrics"]["Rows read"]
    [predicted] = one(finance_db, f'SELECT count(*) FROM "{SCHEMA}".customer_predictions WHERE ds = %s', other["ds"])
    if not predicted:  # a gate-tripping day: finance_ml never ran for it
        assert any(a.startswith(f"No predictions for {other['ds']}") for a in other["alerts"]), other["alerts"]


def test_the_customer_search_finds_a_known_customer_and_the_download_holds_the_shown_rows(dashboard, finance_db):
    ds, search = dashboard["ds"], dashboard["search"]
    assert search["metrics"]["Customers shown"] == "1"
    assert [row[0] for row in search["tables"][0]] == [search["customer"]]  # the one row shown
    [(row)] = list(csv.DictReader(io.StringIO(dashboard["download"])))
    cents, version = one(finance_db, f'SELECT predicted_amount_cents, model_version FROM "{SCHEMA}".customer_predictions'
                                     " WHERE ds = %s AND customer_id = %s", ds, search["customer"])
    assert (row["customer_id"], int(float(row["predicted_amount_cents"])), row["model_version"]) == (
        search["customer"], cents, version)


@pytest.fixture
def app(stack, tmp_path):
    """Start the dashboard with settings of the test's own (`start(**env)`): its URL; stopped afterwards."""
    from scripts.stack.dashboard import dashboard_command, dashboard_unavailable
    from scripts.ui import AirflowUI

    reason = dashboard_unavailable() or chromium_unavailable()
    if reason:
        pytest.skip(reason)
    started, ui = [], AirflowUI(stack, tmp_path / "shots")

    def start(**env: str) -> dict:
        port = free_port()
        command = dashboard_command(port)  # as the stack starts it
        with open(tmp_path / f"dashboard-{port}.log", "wb") as log:
            started.append(subprocess.Popen(command, env={**stack.dashboard_env(), **env}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True))
        from scripts.stack.common import http_ok

        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/_stcore/health"), 60, "the test's dashboard")
        ui.driver.get(f"http://127.0.0.1:{port}/")
        return ui.streamlit_seen("Day overview")

    yield start
    ui.close()
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture
def fresh_database(stack):
    """A database just made, as a new deployment's: no tables yet."""
    name = "dashboard_fresh"
    stack.drop_database(name)
    stack.admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    stack.ensure_dashboard_login()
    yield name
    stack.drop_database(name)


def test_on_a_fresh_database_the_dashboard_says_what_to_run(app, stack, fresh_database):
    from include.finance import schema

    before = app(DASHBOARD_DB_NAME=fresh_database)
    assert before["exceptions"] == 0 and before["header"] is None
    assert [a for a in before["alerts"] if "tables are not in the database yet" in a and "make run" in a], before
    conn = psycopg2.connect(stack.db_uri(fresh_database))
    schema.create_tables(conn, SCHEMA, settings.db_reader_role)  # what finance_elt's first run does first
    conn.close()
    empty = app(DASHBOARD_DB_NAME=fresh_database)
    assert empty["exceptions"] == 0 and [a for a in empty["alerts"] if "No day has been loaded yet" in a], empty


def test_a_database_it_cannot_reach_is_one_message_naming_host_and_port(app, stack):
    port = free_port()
    seen = app(DASHBOARD_DB_PORT=str(port))
    assert seen["exceptions"] == 0
    [message] = seen["alerts"]
    assert f"at 127.0.0.1:{port} " in message and stack.dashboard_password not in message


def test_the_airflow_ui_links_to_the_dashboard(dashboard, stack):
    from scripts.stack import AIRFLOW_3

    assert dashboard["airflow_links"] == [stack.dashboard_url]  # what Airflow's plugins API lists
    if not AIRFLOW_3:
        assert dashboard["airflow_menu_links"] == 1  # in the menu of its pages


def test_the_models_page_links_to_the_runs_airflow_page_and_the_models_mlflow_run(dashboard, local_run, stack):
    import urllib.parse

    run_id = local_run["summary"]["runs"]["finance_ml"]["dag_run_id"]
    links = dashboard["pages"]["models"]["links"]
    assert urllib.parse.unquote(links["finance_ml's run in Airflow"]).startswith(stack.web_url)
    assert run_id in urllib.parse.unquote(links["finance_ml's run in Airflow"])
    mlflow_run = local_run["summary"]["model_card"]["mlflow"]["run_id"]
    assert links["the model's run in MLflow"].startswith(stack.mlflow_url) and mlflow_run in links["the model's run in MLflow"]
