"""The pipeline's SQL files on small tables in the real PostgreSQL: the transforms, the model input
audit, and the tables `schema.create_tables` makes."""

import pytest

from include.finance import schema, sql
from include.finance.quality.model_input import audit_model_input

pytestmark = pytest.mark.integration


VALUES = {"day": "2026-01-01", "currency": "usd", "max_amount": 100000}  # bound as the tasks bind them


def render(transform: str, **tables: str) -> str:
    """A transform's file with the tables of schema sql_test filled in and %(name)s for its values, as the
    Airflow 3 edition runs it (`sql.transform`; the Astro SDK fills in its tables and binds its values too)."""
    return sql.transform(f"{transform}.sql", "sql_test", tables)


@pytest.fixture
def cur(finance_db):
    with finance_db.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS sql_test CASCADE; CREATE SCHEMA sql_test")
        cur.execute("CREATE TABLE sql_test.charge (ds DATE, id TEXT, customer_id TEXT, amount_captured BIGINT,"
                    " status TEXT, paid BOOLEAN, currency TEXT)")
        cur.execute(
            "INSERT INTO sql_test.charge VALUES"
            " ('2026-01-01', 'ch_1', 'cus_a', 1000, 'succeeded', true, 'usd'),"
            " ('2026-01-01', 'ch_2', 'cus_a', 3000, 'succeeded', true, 'usd'),"
            " ('2026-01-01', 'ch_3', 'cus_a', 0, 'failed', false, 'usd'),"
            " ('2026-01-01', 'ch_4', 'cus_b', 500, 'succeeded', true, 'usd'),"
            " ('2026-01-01', 'ch_5', 'cus_b', 9999, 'pending', false, 'usd'),"
            " ('2026-01-01', 'ch_6', 'cus_c', 0, 'failed', false, 'usd'),"
            " ('2026-01-01', 'ch_8', 'cus_b', 70000, 'succeeded', true, 'jpy'),"  # another currency: left out
            " ('2026-01-01', 'ch_9', 'cus_a', 100001, 'succeeded', true, 'usd'),"  # implausible: left out
            " ('2025-12-31', 'ch_7', 'cus_a', 7777, 'succeeded', true, 'usd')"  # another day: not in this run
        )
        cur.execute(
            "CREATE TABLE sql_test.satisfaction (ds DATE, customer_id TEXT, customer_satisfaction_speed SMALLINT,"
            " customer_satisfaction_product SMALLINT, customer_satisfaction_service SMALLINT, product_type TEXT)"
        )
        cur.execute("INSERT INTO sql_test.satisfaction VALUES ('2026-01-01', 'cus_a', 9, 8, 7, 'premium'),"
                    " ('2026-01-01', 'cus_c', 1, 2, 3, 'basic'), ('2025-12-31', 'cus_b', 5, 5, 5, 'basic'),"
                    " ('2026-01-01', 'cus_z', 4, 4, 4, 'basic')")  # cus_z: no charge that day
        yield cur
        cur.execute("DROP SCHEMA sql_test CASCADE")
    finance_db.commit()


def test_successful_charges_are_succeeded_paid_in_the_models_currency_and_plausible(cur):
    cur.execute(render('select_successful_charges', in_charge="charge") + " ORDER BY id", VALUES)
    assert [row[1] for row in cur.fetchall()] == ["ch_1", "ch_2", "ch_4"]


def test_average_per_customer(cur):
    cur.execute(f"CREATE TABLE sql_test.ok AS {render('select_successful_charges', in_charge='charge')}", VALUES)
    cur.execute(render('avg_successful_per_customer', successful_charges="ok") + " ORDER BY 1", VALUES)
    assert [(c, float(a)) for c, a in cur.fetchall()] == [("cus_a", 2000.0), ("cus_b", 500.0)]


def test_join_keeps_every_paying_customer(cur):
    cur.execute(f"CREATE TABLE sql_test.ok AS {render('select_successful_charges', in_charge='charge')}", VALUES)
    cur.execute(f"CREATE TABLE sql_test.avg AS {render('avg_successful_per_customer', successful_charges='ok')}", VALUES)
    cur.execute(render('join_charge_satisfaction', avg_per_customer="avg",
                       in_satisfaction="satisfaction") + " ORDER BY 1", VALUES)
    rows = [(r[0], r[1], r[4], float(r[5]), str(r[6])) for r in cur.fetchall()]
    # cus_b paid but never answered the survey that day: kept with NULL scores; cus_c never paid: not a row
    assert rows == [("cus_a", 9, "premium", 2000.0, "2026-01-01"), ("cus_b", None, None, 500.0, "2026-01-01")]


def test_publishing_a_day_replaces_that_day_only_and_drops_the_staging_table(cur, finance_db):
    """model_satisfaction keeps every day; finance_elt's publish replaces its own day in one transaction."""
    cur.execute(schema.model_satisfaction_statement("sql_test"))
    cur.execute(f"CREATE TABLE sql_test.ok AS {render('select_successful_charges', in_charge='charge')}", VALUES)
    cur.execute(f"CREATE TABLE sql_test.avg AS {render('avg_successful_per_customer', successful_charges='ok')}", VALUES)
    cur.execute("INSERT INTO sql_test.model_satisfaction VALUES ('cus_old', 1, 1, 1, 'basic', 1.0, '2026-01-01'),"
                " ('cus_kept', 1, 1, 1, 'basic', 1.0, '2025-12-31')")
    finance_db.commit()
    for _ in range(2):  # a rerun of the day gives the same table
        cur.execute("CREATE TABLE sql_test.staging AS " + render('join_charge_satisfaction', avg_per_customer="avg",
                                                                  in_satisfaction="satisfaction"), VALUES)
        finance_db.commit()
        assert schema.publish_day(finance_db, "sql_test", "staging", "model_satisfaction",
                                  schema.MODEL_SATISFACTION_COLUMNS, "2026-01-01") == 2
    # a retry after the publish committed: nothing left to publish, nothing changed
    assert schema.publish_day(finance_db, "sql_test", "staging", "model_satisfaction",
                              schema.MODEL_SATISFACTION_COLUMNS, "2026-01-01") == 2
    cur.execute("SELECT ds::text, customer_id FROM sql_test.model_satisfaction ORDER BY 1, 2")
    assert cur.fetchall() == [("2025-12-31", "cus_kept"), ("2026-01-01", "cus_a"), ("2026-01-01", "cus_b")]
    cur.execute("SELECT to_regclass('sql_test.staging')")
    assert cur.fetchone() == (None,)


def test_the_model_input_audit_counts_what_the_model_table_leaves_out(cur, finance_db):
    """Measured in the loaded rows: charges in another currency, implausible amounts, orphan survey answers."""
    cur.execute("ALTER TABLE sql_test.charge RENAME TO in_charge; ALTER TABLE sql_test.satisfaction RENAME TO in_satisfaction")
    cur.execute(sql.statement("tables/model_input_audit.sql", "sql_test", table="model_input_audit"))
    for run_id in ("r1", "r2"):  # a rerun of the day replaces its counts
        counts = audit_model_input(finance_db, "sql_test", "2026-01-01", run_id, "usd", 100000)
    # succeeded and paid that day: ch_1, ch_2, ch_4, ch_8 (jpy), ch_9 (implausible); cus_z answered, never paid
    assert counts == {"successful_charges": 5, "other_currency_charges": 1, "implausible_charges": 1,
                      "survey_answers": 3, "orphan_surveys": 1}
    cur.execute("SELECT ds::text, successful_charges, other_currency_charges, implausible_charges, survey_answers,"
                " orphan_surveys, run_id FROM sql_test.model_input_audit")
    assert cur.fetchall() == [("2026-01-01", 5, 1, 1, 3, 1, "r2")]


def test_create_tables_makes_every_table_in_a_schema_that_needs_quoting_and_keeps_their_rows(finance_db):
    name = 'Odd "Schema"'
    with finance_db, finance_db.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {sql.quoted(name)} CASCADE")
    schema.create_tables(finance_db, name)
    with finance_db, finance_db.cursor() as cur:
        cur.execute(f"INSERT INTO {sql.quoted(name, 'model_input_audit')} VALUES ('2026-01-01', 1, 0, 0, 1, 0, 'r1')")
    schema.create_tables(finance_db, name)  # again: nothing changes
    with finance_db, finance_db.cursor() as cur:
        cur.execute("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1", (name,))
        tables = cur.fetchall()
        cur.execute(f"SELECT run_id FROM {sql.quoted(name, 'model_input_audit')}")
        rows = cur.fetchall()
        cur.execute(f"DROP SCHEMA {sql.quoted(name)} CASCADE")
    assert tables == [("customer_predictions", "p"), ("in_charge", "p"), ("in_satisfaction", "p"), ("load_audit", "r"),
                      ("load_rejects", "r"), ("model_decisions", "r"), ("model_input_audit", "r"),
                      ("model_metrics", "r"), ("model_monitoring", "r"), ("model_satisfaction", "r"),
                      ("prediction_summary", "r")]
    assert rows == [("r1",)]


def test_a_model_satisfaction_of_one_day_from_an_earlier_version_is_named_with_what_to_do(finance_db):
    with finance_db, finance_db.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS old_version CASCADE; CREATE SCHEMA old_version;"
                    " CREATE TABLE old_version.model_satisfaction (customer_id text, avg_amount_captured float)")
    with pytest.raises(RuntimeError, match=r"old_version.model_satisfaction has no ds column: .* Drop it \(DROP TABLE"
                                           r' "old_version"."model_satisfaction"; .*make reset'):
        schema.create_tables(finance_db, "old_version")
    with finance_db, finance_db.cursor() as cur:
        cur.execute("DROP SCHEMA old_version CASCADE")
