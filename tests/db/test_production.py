"""Models in production on the real PostgreSQL, in the tables `schema.create_tables` makes: the predictions
written back, the monitoring rows. The model registry's decisions are in MLflow: tests/db/test_mlflow.py."""

import pytest

from include.finance.production import monitoring, predictions
from include.finance.training import ml

pytestmark = pytest.mark.integration

SCHEMA = "production_test"


@pytest.fixture
def conn(schema_db):
    return schema_db


class SpeedModel:
    """Predicts 100 cents per speed point, minus 300: negative below 3 points."""

    def predict(self, frame):
        assert list(frame.columns) == ml.FEATURES and not frame.isna().any().any()
        return frame["customer_satisfaction_speed"].to_numpy() * 100.0 - 300


def put_model_satisfaction(conn, ds: str, speeds: list) -> None:
    with conn, conn.cursor() as cur:
        for i, speed in enumerate(speeds):
            answered = speed is not None
            cur.execute(f"INSERT INTO {SCHEMA}.model_satisfaction VALUES (%s, %s, %s, %s, %s, 1000, %s)",
                        (f"cus_{i}", speed, 5 if answered else None, 5 if answered else None,
                         "basic" if answered else None, ds))


def day_predictions(conn, ds: str) -> list[tuple]:
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT customer_id, predicted_amount_cents, model_version, reason"
                    f" FROM {SCHEMA}.customer_predictions WHERE ds = %s ORDER BY customer_id", (ds,))
        return cur.fetchall()


def test_every_customer_of_the_day_gets_a_prediction_or_the_reason_in_the_days_partition(conn):
    put_model_satisfaction(conn, "2026-01-01", [9, None, 1, 5, 7])
    put_model_satisfaction(conn, "2026-01-02", [2])
    for _ in range(2):  # a rerun of the day replaces its rows
        counts = predictions.write_predictions(conn, SCHEMA, "2026-01-01", SpeedModel(), "v1", chunk_rows=2)
    assert counts == {"customers": 5, "predicted": 4, "no survey answers": 1}
    assert day_predictions(conn, "2026-01-01") == [
        ("cus_0", 600, "v1", None), ("cus_1", None, "v1", "no survey answers"),
        ("cus_2", 0, "v1", None),  # -200 predicted: an amount is never below 0
        ("cus_3", 200, "v1", None), ("cus_4", 400, "v1", None)]
    predictions.write_predictions(conn, SCHEMA, "2026-01-02", SpeedModel(), "v2")
    assert day_predictions(conn, "2026-01-02") == [("cus_0", 0, "v2", None)]
    assert len(day_predictions(conn, "2026-01-01")) == 5  # another day's partition is left alone
    with conn, conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'customer_predictions'"
                    " AND c.relnamespace = %s::regnamespace ORDER BY 1", (SCHEMA,))
        assert [r[0] for r in cur.fetchall()] == ["customer_predictions_20260101", "customer_predictions_20260102"]


class Recorded:
    """A psycopg2 connection that records the cursors opened and each fetchmany's rows."""

    def __init__(self, conn):
        self.conn, self.names, self.fetched = conn, [], []

    def __enter__(self):
        return self.conn.__enter__()

    def __exit__(self, *error):
        return self.conn.__exit__(*error)

    def cursor(self, name=None):
        self.names.append(name)
        cursor = self.conn.cursor(name=name) if name else self.conn.cursor()
        if name:
            fetchmany = cursor.fetchmany

            def recorded(size):
                rows = fetchmany(size)
                self.fetched.append(len(rows))
                return rows

            return type("Cursor", (), {"__enter__": lambda s: s, "__exit__": lambda s, *e: cursor.__exit__(*e),
                                       "execute": cursor.execute, "fetchmany": staticmethod(recorded)})()
        return cursor


def test_predictions_are_read_from_a_server_side_cursor_a_chunk_at_a_time(conn):
    put_model_satisfaction(conn, "2026-01-01", [1, 2, 3, 4, 5])
    recorded = Recorded(conn)
    predictions.write_predictions(recorded, SCHEMA, "2026-01-01", SpeedModel(), "v1", chunk_rows=2)
    assert "model_satisfaction_day" in recorded.names  # named: PostgreSQL keeps the rows, not the client
    assert recorded.fetched == [2, 2, 1, 0]  # never more than a chunk in memory


def test_monitoring_rows_replace_their_day_and_read_back_in_order(conn):
    rows = [{"metric": "r2", "feature": "", "value": 0.5, "threshold": 0.7, "alert": True, "model_version": "v1"},
            {"metric": "psi", "feature": "product_type", "value": 0.4, "threshold": 0.2, "alert": True,
             "model_version": "v1"}]
    monitoring.store(conn, SCHEMA, "2026-01-02", "run_a", rows[:1])
    assert monitoring.store(conn, SCHEMA, "2026-01-02", "run_b", rows) == 2  # a rerun replaces the day
    monitoring.store(conn, SCHEMA, "2026-01-03", "run_c", rows[1:])
    history = monitoring.history(conn, SCHEMA, until="2026-01-02")
    assert [(r["ds"], r["metric"], r["run_id"], r["alert"]) for r in history] == [
        ("2026-01-02", "psi", "run_b", True), ("2026-01-02", "r2", "run_b", True)]
    assert len(monitoring.history(conn, SCHEMA, until="2026-01-03")) == 3
