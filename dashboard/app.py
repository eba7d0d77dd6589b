"""The results dashboard: what the pipeline found on a day, for the people who act on it.

    python -m streamlit run dashboard/app.py   (from the project folder, with .venv-dashboard's Python; the local
                                               stack starts it: `make up`, http://127.0.0.1:8501)

Four pages share a day picker (default: the newest day loaded): the day's overview, its data quality, its
models and its customers. Every figure is a query of `dashboard/queries.py` on that day, cached for
`CACHE_SECONDS`; the day's runs and gates come from Airflow's REST API. Settings (environment):
DASHBOARD_DB_HOST, _PORT, _NAME, _USER, _PASSWORD (a login that can only read the pipeline's schema), DB_SCHEMA;
DASHBOARD_AIRFLOW_URL, _VERSION (2 or 3), _USER, _PASSWORD (a user that can only read; unset: no run states);
DASHBOARD_AIRFLOW_RUN_URL (a run's page, `{dag_id}` and `{run_id}` filled in) and DASHBOARD_MLFLOW_URL.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import closing
from urllib.parse import quote

import pandas as pd
import psycopg2
import streamlit as st

from dashboard import queries

STARTED = time.perf_counter()  # this run of the script: the page's server time ends at its footer
CACHE_SECONDS = 60
FEW_ROWS = 20  # customers shown as a table rather than a scrolling grid
RUN_HINT = "run `make run` (or switch the DAGs on in Airflow) and reload this page"


@st.cache_resource
def database() -> queries.Database:
    return queries.Database.from_env()


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def ask(name: str, *args, **params):
    """`queries.<name>(conn, schema, *args, **params)` on a new read-only connection, cached by its arguments."""
    db = database()
    with closing(db.connect()) as conn:
        return getattr(queries, name)(conn, db.schema, *args, **params)


def query(name: str, *args, **params):
    """`ask`, with a clear message instead of a traceback when the database cannot answer."""
    try:
        return ask(name, *args, **params)
    except queries.Unreachable as error:
        st.error(str(error))
    except psycopg2.errors.UndefinedTable:
        st.info(f"The pipeline's tables are not in the database yet: {RUN_HINT}.")
    except psycopg2.errors.InsufficientPrivilege:
        st.info(f"The dashboard's login may not read the pipeline's tables yet (finance_elt's create_tables lets the"
                f" read-only role read them): {RUN_HINT}.")
    except psycopg2.Error as error:
        first = (error.pgerror or str(error)).strip().splitlines()[0]
        st.error(f"The dashboard's query `{name}` failed: {first}")
    stop()


def footer() -> None:
    """The page's last line: when its figures were read and how long the server took to build the page (each page
    ends with it, also one that stops early)."""
    st.caption(f"Figures as of {dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC, page built in"
               f" {time.perf_counter() - STARTED:.2f} s, read again after {CACHE_SECONDS} s.")


def stop() -> None:
    """End the page here, with its footer."""
    footer()
    st.stop()


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def airflow_runs(ds: str, finance_ml_run: str | None) -> pd.DataFrame | str:
    """The day's runs from Airflow's REST API (read-only user), or why they cannot be shown."""
    api = queries.airflow_api()
    if api is None:
        return "Airflow's run states are not shown: DASHBOARD_AIRFLOW_URL is not set."
    try:
        return queries.airflow_runs(api, ds, finance_ml_run)
    except (OSError, KeyError, ValueError) as error:  # urllib's errors are OSErrors
        return f"Airflow's REST API at {api.root} did not answer with the day's runs: {error}"


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def airflow_gates(finance_elt_run: str) -> pd.DataFrame | str:
    """finance_elt's gates in its run, from Airflow's REST API, or why they cannot be shown."""
    api = queries.airflow_api()
    try:
        return queries.airflow_gates(api, finance_elt_run)
    except (OSError, KeyError, ValueError) as error:
        return f"Airflow's REST API at {api.root} did not answer with finance_elt's gates: {error}"


def airflow_run_link(dag_id: str, run_id: str) -> str | None:
    template = os.environ.get("DASHBOARD_AIRFLOW_RUN_URL", "")
    return template.format(dag_id=dag_id, run_id=quote(run_id, safe="")) if template else None


def mlflow_run_link(experiment_id: str, run_id: str) -> str | None:
    base = os.environ.get("DASHBOARD_MLFLOW_URL", "").rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}" if base else None


def cents(value) -> str:
    return "" if value is None or pd.isna(value) else f"${value / 100:,.2f}"


def pick_day() -> str:
    days = query("days")
    if not days:
        st.info(f"No day has been loaded yet: {RUN_HINT}.")
        stop()
    return st.sidebar.selectbox("Day", days, index=0, key="day", help="The days loaded, newest first")


def overview() -> None:
    ds = pick_day()
    st.header(f"Day overview: {ds}")
    loads, counts = query("load_by_kind", ds), query("day_counts", ds)
    if loads.empty:
        st.warning(f"Nothing was loaded for {ds}: finance_elt has not run for it.")
    else:
        columns = st.columns(5)
        for column, (label, field) in zip(columns, [("Files read", "files"), ("Rows read", "rows_read"),
                                                    ("Rows loaded", "rows_loaded"), ("Rows rejected", "rows_rejected"),
                                                    ("Duplicates dropped", "duplicates_dropped")]):
            column.metric(label, f"{int(loads[field].sum()):,}")
        st.subheader("Per kind")
        st.table(loads.drop(columns=["loaded_at"]).set_index("kind"))
        link = airflow_run_link("finance_elt", loads["run_id"].iloc[0])
        if link:
            st.markdown(f"[finance_elt's run in Airflow]({link})")
    st.subheader("Runs in Airflow")
    decided = query("decision", ds)
    runs = airflow_runs(ds, decided and decided["run_id"])
    if isinstance(runs, str):
        st.warning(runs)
    elif runs.empty:
        st.warning(f"Airflow has no run of {ds}.")
    else:
        st.table(runs.assign(page=[airflow_run_link(d, r) or "" for d, r in zip(runs["dag_id"], runs["run_id"])])
                 .set_index("dag_id"))
        elt = runs[runs["dag_id"] == "finance_elt"]["run_id"].tolist()
        gates = airflow_gates(elt[0]) if elt else f"finance_elt has not run for {ds}: no gate ran."
        st.subheader("Quality gates")
        if isinstance(gates, str):
            st.warning(gates)
        else:
            st.table(gates.set_index("gate"))
    st.subheader("Predictions")
    if not counts["customers"]:
        st.warning(f"No predictions for {ds}: finance_ml has not run for it (it runs once finance_elt has published"
                   " the day's model_satisfaction).")
    else:
        left, middle, right = st.columns(3)
        left.metric("Customers predicted", f"{counts['predicted']:,}")
        middle.metric("Without a prediction", f"{counts['without_prediction']:,}")
        right.metric("Model version", counts["model_version"])
    st.subheader("Files")
    st.dataframe(query("files", ds), hide_index=True, use_container_width=True)


def data_quality() -> None:
    ds = pick_day()
    st.header(f"Data quality: {ds}")
    rejects = query("rejects_by_reason", ds)
    st.metric("Rows rejected", f"{int(rejects['rows'].sum()) if not rejects.empty else 0:,}")
    if rejects.empty:
        st.success(f"No row of {ds}'s files broke the data contract.")
    else:
        st.subheader("Rejected rows by reason and file")
        st.table(rejects)
        st.subheader("Rejected lines as they were in the files")
        st.dataframe(query("reject_sample", ds), hide_index=True, use_container_width=True)
    st.subheader("Left out of the model input")
    audit = query("input_audit", ds)
    if audit is None:
        st.warning(f"No model input audit for {ds}: finance_elt has not built the day's model_satisfaction.")
    else:
        columns = st.columns(5)
        for column, (label, field) in zip(columns, [("Successful charges", "successful_charges"),
                                                    ("Other currencies", "other_currency_charges"),
                                                    ("Implausible amounts", "implausible_charges"),
                                                    ("Survey answers", "survey_answers"),
                                                    ("Orphan answers", "orphan_surveys")]):
            column.metric(label, f"{audit[field]:,}")
    st.subheader(f"The last {queries.HISTORY_DAYS} days")
    history = query("quality_history", ds)
    st.line_chart(history.set_index("ds")[["rows_rejected", "duplicates_dropped", "other_currency_charges",
                                           "implausible_charges", "orphan_surveys"]])


def models() -> None:
    ds = pick_day()
    st.header(f"Models: {ds}")
    decision = query("decision", ds)
    if decision is None:
        st.warning(f"No model was decided on for {ds}: finance_ml has not run for it (or not got to choose_champion).")
    else:
        board = query("leaderboard", ds)
        left, middle, right = st.columns(3)
        left.metric("Best model", decision["model"])
        middle.metric("Decision", decision["decision"])
        right.metric("Serving version", decision["serving_version"])
        st.markdown(f"Version {decision['version']} of the day's run: **{decision['decision']}**: {decision['reason']}")
        links = [(text, link) for text, link in (
            ("finance_ml's run in Airflow", airflow_run_link("finance_ml", decision["run_id"])),
            ("the model's run in MLflow", mlflow_run_link(decision["mlflow_experiment_id"], decision["mlflow_run_id"])))
            if link]
        if links:
            st.markdown(" · ".join(f"[{text}]({link})" for text, link in links))
        st.subheader("Leaderboard")
        st.table(board.set_index("model"))
    st.subheader(f"The serving model over the last {queries.HISTORY_DAYS} days")
    history = query("monitoring_history", ds)
    if history.empty:
        st.info("No monitoring yet: it starts on the day after the first champion.")
        return
    for metric, title in (("r2", "Champion R2 on each day's rows"), ("psi", "PSI per feature (drift)")):
        rows = history[history["metric"] == metric]
        chart = rows.pivot_table(index="ds", columns="feature", values="value")
        chart.columns = ["R2" if c == "" else c for c in chart.columns]
        chart["alert threshold"] = rows.groupby("ds")["threshold"].max()
        st.caption(title)
        st.line_chart(chart)
    alerts = history[history["alert"]]
    if alerts.empty:
        st.success("No alert in these days.")
    else:
        st.subheader("Alerts")
        st.table(alerts[["ds", "metric", "feature", "value", "threshold", "model_version"]])


def customers() -> None:
    ds = pick_day()
    st.header(f"Customers: {ds}")
    summary = query("prediction_summary", ds)
    if summary.empty:
        st.warning(f"No predictions for {ds}: finance_ml has not run for it.")
        return
    search = st.text_input("Customer id contains", key="search")
    kinds = [k for k in summary["product_type"] if not k.startswith("(")]
    product_type = st.selectbox("Product type", ["(all)", *kinds], key="product_type")
    shown = query("predictions", ds, search=search, product_type="" if product_type == "(all)" else product_type)
    st.metric("Customers shown", f"{len(shown):,}")
    if len(shown) == queries.PREDICTION_ROWS:
        st.caption(f"The first {queries.PREDICTION_ROWS:,} by customer id: search to narrow them down.")
    shown = shown.assign(predicted_amount=shown["predicted_amount_cents"].map(cents))
    if len(shown) <= FEW_ROWS:  # a search's few customers as a plain table, every value readable and copyable
        st.table(shown.set_index("customer_id"))
    else:
        st.dataframe(shown, hide_index=True, use_container_width=True)
    st.download_button("Download these rows (CSV)", shown.to_csv(index=False).encode(),
                       file_name=f"customer_predictions_{ds}.csv", mime="text/csv")
    st.subheader("Predicted amounts per product type")
    st.table(summary.set_index("product_type"))
    st.bar_chart(summary.set_index("product_type")[["p10_cents", "median_cents", "p90_cents"]])
    st.subheader("Customers without a prediction")
    st.table(query("unpredicted", ds))


PAGES = [st.Page(overview, title="Day overview", default=True),  # at /
         st.Page(data_quality, title="Data quality", url_path="quality"),
         st.Page(models, title="Models", url_path="models"),
         st.Page(customers, title="Customers", url_path="customers")]

st.set_page_config(page_title="finance pipeline results", layout="wide")
st.navigation(PAGES).run()
footer()
