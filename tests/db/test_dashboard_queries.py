"""The dashboard's query layer (dashboard/queries.py, include/finance/sql/dashboard/) on the real PostgreSQL: two
days of rows written by the pipeline's own writers where it has them (predictions, metrics, decisions,
monitoring), each query's answer checked against them; the read-only login it reads as."""

import psycopg2
import pytest
from psycopg2 import sql

from dashboard import queries
from include.finance import schema
from include.finance.production import monitoring, predictions, steps
from include.finance.training import metrics
from tests.conftest import free_port
from tests.db.test_production import SpeedModel

pytestmark = pytest.mark.integration

SCHEMA = "dashboard_test"
DAY, NEXT, LONG_AGO = "2026-01-01", "2026-01-02", "2025-11-01"
READER, LOGIN = "dashboard_test_reader", "dashboard_test_login"


def audit(conn, ds: str, kind: str, file: str, read: int, loaded: int, rejected: int, duplicates: int) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {SCHEMA}.load_audit (ds, kind, file, rows_read, rows_loaded, rows_rejected,"
                    " duplicates_dropped, note, loaded_by, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, '', 'copy', %s)",
                    (ds, kind, file, read, loaded, rejected, duplicates, f"elt_{ds}"))


def reject(conn, ds: str, kind: str, file: str, line: int, reason: str) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {SCHEMA}.load_rejects (ds, kind, file, line, reason, raw_line, run_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 'elt')", (ds, kind, file, line, reason, f"raw line {line}"))


def answered(conn, ds: str, customers: dict) -> None:
    """model_satisfaction's rows: customer id -> (speed, product type), or None for a customer without answers."""
    with conn, conn.cursor() as cur:
        for customer, answers in customers.items():
            speed, product = answers or (None, None)
            cur.execute(f"INSERT INTO {SCHEMA}.model_satisfaction VALUES (%s, %s, %s, %s, %s, 1000, %s)",
                        (customer, speed, speed and 5, speed and 5, product, ds))


def decided(ds: str, run_id: str, version: str, decision: str, model: str = "Ridge") -> dict:
    return {"ds": ds, "run_id": run_id, "model": model, "version": version, "decision": decision, "reason": "why",
            "candidate_r2": 0.8, "champion_r2": None, "incumbent_version": None if decision == "promoted" else "1",
            "mlflow_run_id": f"mlrun_{version}"}


def result(model: str, cv_r2: float) -> dict:
    return {"model": model, "cv_r2": cv_r2, "cv_r2_std": 0.01, "cv_folds": 5, "r2_train": 0.9, "r2_test": cv_r2 - 0.02,
            "fit_seconds": 0.5, "feature_importance": None, "coefficients": None, "hyper_parameters": {}}


@pytest.fixture
def conn(schema_db):
    conn = schema_db
    audit(conn, DAY, "charge", "charge_part_001.csv", 10, 8, 1, 1)
    audit(conn, DAY, "charge", "charge_part_002.csv", 5, 5, 0, 0)
    audit(conn, DAY, "satisfaction", "satisfaction_part_001.csv", 4, 3, 1, 0)
    audit(conn, NEXT, "charge", "charge_part_001.csv", 3, 3, 0, 0)
    audit(conn, LONG_AGO, "charge", "charge_part_001.csv", 7, 0, 7, 0)
    reject(conn, DAY, "charge", "charge_part_001.csv", 3, "amount: not an integer")
    reject(conn, DAY, "satisfaction", "satisfaction_part_001.csv", 5, "customer_id: empty")
    with conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {SCHEMA}.model_input_audit VALUES (%s, 12, 2, 1, 3, 1, 'elt')", (DAY,))
    answered(conn, DAY, {"cus_0": (5, "basic"), "cus_1": (7, "premium"), "cus_2": None})
    predictions.write_predictions(conn, SCHEMA, DAY, SpeedModel(), "1")
    metrics.store_metrics(conn, SCHEMA, schema.MODEL_METRICS, "ml_1", [result("Ridge", 0.8), result("Forest", 0.85)])
    metrics.store_metrics(conn, SCHEMA, schema.MODEL_METRICS, "ml_0", [result("Lasso", 0.99)])  # another run's
    steps.store_decision(conn, SCHEMA, decided(DAY, "ml_1", "1", "not promoted"), "7")
    steps.store_decision(conn, SCHEMA, decided(DAY, "ml_1", "1", "promoted", "Forest"), "7")  # a retry's
    monitoring.store(conn, SCHEMA, DAY, "ml_1", [
        {"model_version": "1", "metric": "r2", "feature": "", "value": 0.7, "threshold": 0.6, "alert": False},
        {"model_version": "1", "metric": "psi", "feature": "product_type", "value": 0.3, "threshold": 0.2, "alert": True},
        {"model_version": "1", "metric": "ks", "feature": "product_type", "value": 0.1, "threshold": None, "alert": False}])
    return conn


def test_the_days_are_newest_first_and_the_overview_counts_the_days_rows(conn):
    assert queries.days(conn, SCHEMA) == [NEXT, DAY, LONG_AGO]
    loads = queries.load_by_kind(conn, SCHEMA, DAY)
    assert loads[["kind", "files", "rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped"]].values.tolist() == [
        ["charge", 2, 15, 13, 1, 1], ["satisfaction", 1, 4, 3, 1, 0]]
    assert queries.files(conn, SCHEMA, DAY)["file"].tolist() == [
        "charge_part_001.csv", "charge_part_002.csv", "satisfaction_part_001.csv"]
    assert queries.day_counts(conn, SCHEMA, DAY) == {"customers": 3, "predicted": 2, "without_prediction": 1,
                                                     "model_version": "1"}
    assert queries.day_counts(conn, SCHEMA, NEXT)["customers"] == 0  # finance_ml has not run for it


def test_data_quality_counts_rejects_by_reason_shows_the_lines_and_thirty_days(conn):
    assert queries.rejects_by_reason(conn, SCHEMA, DAY).values.tolist() == [
        ["charge", "charge_part_001.csv", "amount: not an integer", 1],
        ["satisfaction", "satisfaction_part_001.csv", "customer_id: empty", 1]]
    sample = queries.reject_sample(conn, SCHEMA, DAY, limit=1)
    assert sample[["file", "line", "raw_line"]].values.tolist() == [["charge_part_001.csv", 3, "raw line 3"]]
    assert queries.input_audit(conn, SCHEMA, DAY) == {"successful_charges": 12, "other_currency_charges": 2,
                                                      "implausible_charges": 1, "survey_answers": 3, "orphan_surveys": 1}
    assert queries.input_audit(conn, SCHEMA, NEXT) is None
    history = queries.quality_history(conn, SCHEMA, NEXT)
    assert history["ds"].tolist() == [DAY, NEXT]  # LONG_AGO is more than 30 days before
    assert history["rows_rejected"].tolist() == [2, 0] and history["orphan_surveys"].tolist()[0] == 1


def test_models_show_the_days_decision_and_its_runs_leaderboard_best_first(conn):
    decision = queries.decision(conn, SCHEMA, DAY)
    assert {k: decision[k] for k in ("run_id", "model", "version", "decision", "serving_version",
                                     "mlflow_run_id", "mlflow_experiment_id")} == {
        "run_id": "ml_1", "model": "Forest", "version": "1", "decision": "promoted", "serving_version": "1",
        "mlflow_run_id": "mlrun_1", "mlflow_experiment_id": "7"}  # the retry's row replaced the first
    assert queries.leaderboard(conn, SCHEMA, DAY)["model"].tolist() == ["Forest", "Ridge"]  # not run ml_0's
    assert queries.decision(conn, SCHEMA, NEXT) is None and queries.leaderboard(conn, SCHEMA, NEXT).empty
    history = queries.monitoring_history(conn, SCHEMA, DAY)
    assert history[["metric", "feature", "value", "alert"]].values.tolist() == [
        ["psi", "product_type", 0.3, True], ["r2", "", 0.7, False]]  # ks is not charted


def test_customers_are_searched_filtered_summarised_and_the_missing_ones_explained(conn):
    every = queries.predictions(conn, SCHEMA, DAY)
    every = every.astype(object).where(every.notna(), None)
    assert every[["customer_id", "product_type", "predicted_amount_cents"]].values.tolist() == [
        ["cus_0", "basic", 200], ["cus_1", "premium", 400], ["cus_2", None, None]]
    assert queries.predictions(conn, SCHEMA, DAY, search=" s_1 ")["customer_id"].tolist() == ["cus_1"]
    assert queries.predictions(conn, SCHEMA, DAY, product_type="premium")["customer_id"].tolist() == ["cus_1"]
    assert queries.predictions(conn, SCHEMA, DAY, limit=1)["customer_id"].tolist() == ["cus_0"]
    summary = queries.prediction_summary(conn, SCHEMA, DAY)
    summary = summary.astype(object).where(summary.notna(), None)
    assert summary[["product_type", "customers", "predicted", "median_cents"]].values.tolist() == [
        ["(no survey answer)", 1, 0, None], ["basic", 1, 1, 200.0], ["premium", 1, 1, 400.0]]
    assert queries.unpredicted(conn, SCHEMA, DAY).values.tolist() == [[predictions.NO_SURVEY, 1]]


@pytest.fixture
def reader_login(stack, schema_db):
    """A login in the read-only role create_tables grants the schema to, as the stack makes the dashboard's."""
    admin = stack._connect_admin()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(LOGIN)))
        schema.ensure_role(cur, READER)
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'reader-secret' IN ROLE {}").format(
            sql.Identifier(LOGIN), sql.Identifier(READER)))
    schema.create_tables(schema_db, SCHEMA, reader=READER)
    yield queries.Database(host="127.0.0.1", port=stack.pg_port, name="finance", user=LOGIN,
                           password="reader-secret", schema=SCHEMA)
    with schema_db, schema_db.cursor() as cur:  # its grants are in the database finance
        cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(READER)))
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE {}; DROP ROLE {}").format(sql.Identifier(LOGIN), sql.Identifier(READER)))
    admin.close()


def test_the_dashboards_login_reads_the_schema_and_cannot_write_it(conn, reader_login):
    app = reader_login.connect()  # the app's own connection: a read-only session
    try:
        assert queries.days(app, SCHEMA) == [NEXT, DAY, LONG_AGO]
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction), app.cursor() as cur:
            cur.execute(f"INSERT INTO {SCHEMA}.model_input_audit VALUES (%s, 1, 1, 1, 1, 1, 'x')", (NEXT,))
    finally:
        app.close()
    # the role itself, also where a session is not read-only, and on a table made after the grant (a new day's
    # partition): SELECT only
    schema.day_partition(conn.cursor(), SCHEMA, schema.CUSTOMER_PREDICTIONS, NEXT)
    conn.commit()
    login = psycopg2.connect(host="127.0.0.1", port=reader_login.port, dbname="finance", user=LOGIN,
                             password="reader-secret")
    try:
        with login.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {SCHEMA}.customer_predictions_{NEXT.replace('-', '')}")
            assert cur.fetchone() == (0,)
        login.rollback()
        for statement in (f"INSERT INTO {SCHEMA}.model_input_audit VALUES ('{NEXT}', 1, 1, 1, 1, 1, 'x')",
                          f"DELETE FROM {SCHEMA}.load_audit", f"CREATE TABLE {SCHEMA}.mine (x int)"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), login.cursor() as cur:
                cur.execute(statement)
            login.rollback()
    finally:
        login.close()


def test_a_database_that_cannot_be_reached_is_named_by_host_and_port_without_the_password():
    port = free_port()
    database = queries.Database(host="127.0.0.1", port=port, name="finance", user="dashboard",
                                password="never-shown", schema=SCHEMA)
    with pytest.raises(queries.Unreachable, match=f"at 127.0.0.1:{port} ") as error:
        database.connect()
    assert "never-shown" not in str(error.value)



def test_a_pipeline_user_that_may_not_make_roles_still_makes_its_tables_and_says_what_to_run(stack, caplog):
    """A deployment's database user is rarely allowed CREATE ROLE: create_tables goes on without the grants."""
    name, role, password = "dashboard_test_pipeline", "dashboard_test_never_made", "pipeline-secret"
    admin = stack._connect_admin()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEROLE PASSWORD %s").format(sql.Identifier(name)), (password,))
    owner = psycopg2.connect(stack.db_uri("finance"))  # the superuser gives it the database, as a deployment's has
    with owner, owner.cursor() as cur:
        cur.execute(sql.SQL("GRANT CREATE ON DATABASE finance TO {}").format(sql.Identifier(name)))
    pipeline = psycopg2.connect(host="127.0.0.1", port=stack.pg_port, dbname="finance", user=name, password=password)
    try:
        schema.create_tables(pipeline, name, reader=role)
        with pipeline.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (name,))
            assert cur.fetchone()[0] >= len(schema.FIXED_TABLES)  # the tables were made all the same
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            assert cur.fetchone() is None
        assert any(f'CREATE ROLE "{role}" NOLOGIN' in r.getMessage() for r in caplog.records), caplog.text
    finally:
        pipeline.close()
        with owner, owner.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        owner.close()
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        admin.close()
