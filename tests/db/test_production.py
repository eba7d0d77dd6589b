"""Models in production on the real PostgreSQL, in the tables `schema.create_tables` makes: the model
registry's decisions, the predictions written back, the monitoring rows."""

import psycopg2
import pytest

from include.finance import ml, monitoring, predictions, registry

pytestmark = pytest.mark.integration

SCHEMA = "production_test"


@pytest.fixture
def conn(schema_db):
    return schema_db


def candidate(version: str, ds: str) -> dict:
    return {"version": version, "run_id": f"run_{version}", "ds": ds, "model": "RidgeCV",
            "model_class": "sklearn.linear_model.RidgeCV", "hyper_parameters": {"alphas": [1.0]},
            "metrics": {"cv_r2": 0.8, "r2_test": 0.8}, "artifact_uri": f"s3://b/ml-runs/{version}/model.joblib",
            "model_sha256": "0" * 64, "training_rows_uri": f"s3://b/ml-runs/{version}/training_rows.csv.gz",
            "training_rows_sha256": "1" * 64}


def statuses(conn) -> dict:
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT version, status FROM {SCHEMA}.model_registry ORDER BY version")
        return dict(cur.fetchall())


def test_the_registry_keeps_the_champion_against_a_worse_model_and_promotes_a_better_one(conn):
    """Scores stand for each model's R2 on the day's held-out rows (`score(entry)`)."""
    r2 = {"v1": 0.80, "v2": 0.79, "v3": 0.82}
    first = registry.register(conn, SCHEMA, candidate("v1", "2026-01-01"), lambda e: r2[e["version"]], 0.005)
    assert (first["status"], first["champion_r2"], first["incumbent_version"]) == ("champion", None, None)
    assert first["reason"].startswith("first model")

    worse = registry.register(conn, SCHEMA, candidate("v2", "2026-01-02"), lambda e: r2[e["version"]], 0.005)
    assert (worse["status"], worse["candidate_r2"], worse["champion_r2"]) == ("candidate", 0.79, 0.80)
    assert worse["reason"] == "candidate 0.7900 does not beat champion 0.8000 by 0.0050"
    assert statuses(conn) == {"v1": "champion", "v2": "candidate"}

    better = registry.register(conn, SCHEMA, candidate("v3", "2026-01-03"), lambda e: r2[e["version"]], 0.005)
    assert (better["status"], better["incumbent_version"]) == ("champion", "v1")
    assert statuses(conn) == {"v1": "retired", "v2": "candidate", "v3": "champion"}
    # the reason it was promoted, then why it retired
    assert registry.entry(conn, SCHEMA, "v1")["reason"] == ("first model: candidate 0.8000, no champion yet;"
                                                            " retired: replaced by v3 on 2026-01-03")
    assert [registry.serving_after(e) for e in (first, worse, better)] == ["v1", "v1", "v3"]


def test_a_decided_model_keeps_its_decision_and_its_incumbent(conn):
    scores = {"v1": 0.5, "v2": 0.9}
    registry.register(conn, SCHEMA, candidate("v1", "2026-01-01"), lambda e: scores[e["version"]], 0.005)
    assert registry.incumbent(conn, SCHEMA, "v2")["version"] == "v1"  # before v2 is decided: the champion now
    decided = registry.register(conn, SCHEMA, candidate("v2", "2026-01-02"), lambda e: scores[e["version"]], 0.005)

    def no_scoring(entry):
        raise AssertionError("a decided model is not scored again")

    assert registry.register(conn, SCHEMA, candidate("v2", "2026-01-02"), no_scoring, 0.005) == decided
    assert registry.incumbent(conn, SCHEMA, "v2")["version"] == "v1"  # v2 is champion now, but it met v1
    assert registry.incumbent(conn, SCHEMA, "v1") is None
    assert statuses(conn) == {"v1": "retired", "v2": "champion"}


def test_the_registry_holds_one_champion_at_most(conn):
    registry.register(conn, SCHEMA, candidate("v1", "2026-01-01"), lambda e: 0.5, 0.005)
    with pytest.raises(psycopg2.errors.UniqueViolation), conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {SCHEMA}.model_registry (version, run_id, ds, model, model_class, hyper_parameters,"
                    " metrics, artifact_uri, model_sha256, training_rows_uri, status, reason, candidate_r2) VALUES ('v2',"
                    " 'r', '2026-01-02', 'm', 'c', '{}', '{}', 'u', 's', 't', 'champion', 'by hand', 0.9)")


def test_the_registry_keeps_the_training_rows_sha256_and_adds_its_column_to_an_earlier_versions_table(conn):
    from include.finance import schema

    registry.register(conn, SCHEMA, candidate("v1", "2026-01-01"), lambda e: 0.5, 0.005)
    assert registry.entry(conn, SCHEMA, "v1")["training_rows_sha256"] == "1" * 64
    with conn, conn.cursor() as cur:  # the table as an earlier version made it, with a model registered then
        cur.execute(f"ALTER TABLE {SCHEMA}.model_registry DROP COLUMN training_rows_sha256")
    schema.create_tables(conn, SCHEMA)
    assert registry.entry(conn, SCHEMA, "v1")["training_rows_sha256"] is None  # its drift is not measured
    registry.register(conn, SCHEMA, candidate("v2", "2026-01-02"), lambda e: 0.9, 0.005)
    assert registry.entry(conn, SCHEMA, "v2")["training_rows_sha256"] == "1" * 64


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
