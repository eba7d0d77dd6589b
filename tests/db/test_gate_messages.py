"""Every quality gate of finance_elt on small tables in the real PostgreSQL: it passes on good rows, and a
failure says what it measured against what it allows (the setting's name and value) in the data's words,
not the check operator's query and results. The operators are the ones the DAG files place
(`include/finance/quality/gate_operators.py`), built with settings of their own; tests/e2e/test_gates_explained.py sees the
same messages in the task logs of real runs."""

import pytest

from include.finance import schema, sql
from include.finance.config import Settings
from include.finance.contract import CONTRACTS
from include.finance.quality import gate_operators

pytestmark = pytest.mark.integration

SCHEMA = "gate_messages"
DAY = "2026-05-01"


@pytest.fixture
def db(schema_db, stack, monkeypatch):
    """The pipeline's tables in SCHEMA; the Airflow connection of the stack's database in the environment."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", stack.env()["AIRFLOW_CONN_POSTGRES_DEFAULT"])
    schema_db.autocommit = True
    return schema_db


def settings(**env: str) -> Settings:
    return Settings.from_env({"DB_SCHEMA": SCHEMA, **env})


def t(name: str) -> str:
    return sql.quoted(SCHEMA, name)


def task(task_id: str, built=None):
    """The gate `task_id` as quality/gate_operators.py builds it for the DAG files (with `built`'s settings)."""
    s = built or settings()
    tasks = [*gate_operators.loaded_checks(s), gate_operators.model_input_check(s), *gate_operators.model_satisfaction_checks(s)]
    return next(op for op in tasks if op.task_id == task_id)


def run(op, day: str = DAY) -> str | None:
    """Run the gate as its task does; the failure's message, or None when it passes."""
    op.render_template_fields({"ds": day})
    try:
        op.execute({"ds": day})
    except gate_operators.GateFailed as failed:
        message = str(failed)
        assert "SELECT" not in message and "check_result" not in message, "the provider's report is not the message"
        return message
    return None


def audit_file(db, kind: str, file: str, read: int, loaded: int, rejected: int = 0, note: str = "",
               loaded_by: str = "copy", day: str = DAY) -> None:
    with db.cursor() as cur:
        cur.execute(f"INSERT INTO {t('load_audit')} (ds, kind, file, rows_read, rows_loaded, rows_rejected,"
                    " duplicates_dropped, note, loaded_by, run_id) VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, 'test')",
                    (day, kind, f"s3://bucket/{kind}/dt={day}/{file}", read, loaded, rejected, note, loaded_by))


def charges(db, rows: list[tuple], day: str = DAY) -> None:
    """(id, customer_id, amount_captured, currency, file) each, succeeded and paid; amount = amount_captured."""
    with db.cursor() as cur:
        schema.day_partition(cur, SCHEMA, "in_charge", day)  # without the contract's CHECKs: any amount goes in
        for line, (charge, customer, amount, currency, file) in enumerate(rows, start=2):
            cur.execute(f"INSERT INTO {t('in_charge')} (ds, id, amount, amount_captured, currency, created, customer_id,"
                        " paid, status, source_file, source_line) VALUES (%s, %s, %s, %s, %s, 1767225600, %s, true,"
                        " 'succeeded', %s, %s)", (day, charge, amount, amount, currency, customer,
                                                  f"s3://bucket/charge/dt={day}/{file}", line))


def surveys(db, rows: list[tuple], day: str = DAY) -> None:
    """(customer_id, speed, product, service) each."""
    with db.cursor() as cur:
        schema.day_partition(cur, SCHEMA, "in_satisfaction", day)
        for line, (customer, speed, product, service) in enumerate(rows, start=2):
            cur.execute(f"INSERT INTO {t('in_satisfaction')} VALUES (%s, %s, %s, %s, %s, 'basic', 'part.csv', %s)",
                        (day, customer, speed, product, service, line))


def model_input_audit(db, charges: int, other_currency: int, implausible: int, answers: int, orphans: int) -> None:
    with db.cursor() as cur:
        cur.execute(f"INSERT INTO {t('model_input_audit')} (ds, successful_charges, other_currency_charges,"
                    " implausible_charges, survey_answers, orphan_surveys, run_id) VALUES (%s, %s, %s, %s, %s, %s, 'test')",
                    (DAY, charges, other_currency, implausible, answers, orphans))


def staging(db, rows: list[tuple]) -> None:
    """model_satisfaction_staging as join_charge_satisfaction.sql makes it (no constraints):
    (customer_id, speed, product, service, avg_amount_captured) each."""
    with db.cursor() as cur:
        cur.execute(f"CREATE TABLE {t('model_satisfaction_staging')} (customer_id text, customer_satisfaction_speed"
                    " smallint, customer_satisfaction_product smallint, customer_satisfaction_service smallint,"
                    " product_type text, avg_amount_captured numeric, ds date)")
        for customer, speed, product, service, amount in rows:
            cur.execute(f"INSERT INTO {t('model_satisfaction_staging')} VALUES (%s, %s, %s, %s, 'basic', %s, %s)",
                        (customer, speed, product, service, amount, DAY))


def test_the_loaded_gates_pass_on_a_good_day(db):
    charges(db, [(f"ch_{i}", f"cus_{i}", 100 * i, "usd", "part.csv") for i in range(1, 4)])
    surveys(db, [(f"cus_{i}", 1, 2, 3) for i in range(1, 4)])
    for kind in ("charge", "satisfaction"):
        audit_file(db, kind, "part.csv", read=3, loaded=3)
    assert {op.task_id: run(op) for op in gate_operators.loaded_checks(settings())} == {
        "check_in_charge_columns": None, "check_in_charge_rows": None, "check_charge_rejected_share": None,
        "check_in_satisfaction_columns": None, "check_in_satisfaction_rows": None,
        "check_satisfaction_rejected_share": None}


def test_a_day_without_survey_answers_fails_its_count_and_columns_naming_the_files(db):
    audit_file(db, "satisfaction", "part_000.csv", read=0, loaded=0, note="header only")
    audit_file(db, "satisfaction", "part_001.csv", read=0, loaded=0, note="empty file")
    with db.cursor() as cur:
        schema.day_partition(cur, SCHEMA, "in_satisfaction", DAY)
    files = "satisfaction files that day: part_000.csv (header only), part_001.csv (empty)"
    assert run(task("check_in_satisfaction_rows")) == (
        f"in_satisfaction has 0 survey answers on {DAY}, fewer than MIN_INPUT_ROWS 1; {files}")
    assert run(task("check_in_satisfaction_columns")) == (
        f"in_satisfaction has no survey answers on {DAY}: nothing to check, an empty day fails its gates; {files}")
    # the minimum is a setting
    assert run(task("check_in_satisfaction_rows", settings(MIN_INPUT_ROWS="5"))).startswith(
        f"in_satisfaction has 0 survey answers on {DAY}, fewer than MIN_INPUT_ROWS 5;")


def test_loaded_values_out_of_the_contracts_range_are_named_with_their_extreme(db):
    """A partition made without the contract's CHECKs (the load's have them: this gate is the second line)."""
    charges(db, [("ch_1", "cus_1", 100, "usd", "part.csv"), ("ch_2", "cus_2", -5, "usd", "part.csv")])
    audit_file(db, "charge", "part.csv", read=2, loaded=2)
    surveys(db, [("cus_1", 11, 2, 3), ("cus_2", 4, -1, 3)])
    assert run(task("check_in_charge_columns")) == (
        f"in_charge on {DAY}: amount is as low as -5, allowed from 0; amount_captured is as low as -5, allowed from 0;"
        " charge files that day: part.csv (2 rows)")
    assert run(task("check_in_satisfaction_columns")) == (
        f"in_satisfaction on {DAY}: customer_satisfaction_speed is as high as 11, allowed from 0 to 10;"
        " customer_satisfaction_product is as low as -1, allowed from 0 to 10;"
        " no satisfaction file that day")


def test_too_many_rejected_rows_name_the_share_the_limit_and_the_files_that_lost_them(db):
    audit_file(db, "charge", "good.csv", read=30, loaded=30)
    audit_file(db, "charge", "bad.csv", read=10, loaded=7, rejected=3)
    audit_file(db, "charge", "worse.csv", read=5, loaded=0, rejected=5)
    with db.cursor() as cur:
        for file, line, reason in [("bad.csv", 7, "amount: not a non-negative integer: 'abc'"), ("bad.csv", 4, "short row"),
                                   ("worse.csv", 2, "not UTF-8")]:
            cur.execute(f"INSERT INTO {t('load_rejects')} (ds, kind, file, line, reason, raw_line, run_id)"
                        " VALUES (%s, 'charge', %s, %s, %s, 'x', 'test')", (DAY, f"s3://bucket/charge/dt={DAY}/{file}", line, reason))
    assert run(task("check_charge_rejected_share")) == (
        f"8 of 45 charge rows read on {DAY} (17.8 %) were rejected, more than MAX_REJECTED_SHARE 5 %;"
        " rejected in: worse.csv 5 of 5 rows (line 2: not UTF-8), bad.csv 3 of 10 rows (line 4: short row)")
    assert run(task("check_charge_rejected_share", settings(MAX_REJECTED_SHARE="0.2"))) is None
    assert run(task("check_satisfaction_rejected_share")) == (
        f"load_audit has no row on {DAY}: nothing measured, which fails few_rejects (MAX_REJECTED_SHARE 5 %);"
        " no satisfaction file of that day has rejected rows")


def test_orphan_surveys_name_the_share_the_limit_and_the_charge_files_without_rows(db):
    """The issue's day: a charge file emptied, its customers' survey answers without a charge."""
    model_input_audit(db, charges=1990, other_currency=0, implausible=0, answers=2202, orphans=212)
    audit_file(db, "charge", "part_000.csv", read=1990, loaded=1990)
    audit_file(db, "charge", "part_001.csv", read=0, loaded=0, note="empty file")
    assert run(task("check_model_input")) == (
        f"212 of 2,202 survey answers (9.6 %) have no charge on {DAY}, more than MAX_ORPHAN_SHARE 5 %;"
        " charge files without rows that day: part_001.csv (empty)")
    assert run(task("check_model_input", settings(MAX_ORPHAN_SHARE="0.1"))) is None


def test_implausible_charges_name_the_share_the_limits_and_the_largest(db):
    model_input_audit(db, charges=402, other_currency=2, implausible=6, answers=400, orphans=0)
    charges(db, [(f"ch_{i}", f"cus_{i}", 10 ** 12 + i, "usd", "unit_error.csv") for i in range(5)]
            + [("ch_eur", "cus_x", 10 ** 13, "eur", "part.csv"), ("ch_ok", "cus_y", 100, "usd", "part.csv")])
    audit_file(db, "charge", "part.csv", read=2, loaded=2)
    assert run(task("check_model_input")) == (
        "6 of 400 successful usd charges (1.5 %) are above MAX_CHARGE_AMOUNT 10,000,000"
        f" on {DAY}, more than MAX_IMPLAUSIBLE_SHARE 1 %; the largest: ch_4 1,000,000,000,004 (unit_error.csv line 6),"
        " ch_3 1,000,000,000,003 (unit_error.csv line 5), ch_2 1,000,000,000,002 (unit_error.csv line 4)")


def test_both_model_input_gates_failing_say_one_line_each(db):
    model_input_audit(db, charges=10, other_currency=0, implausible=1, answers=10, orphans=5)
    message = run(task("check_model_input"))
    assert message.splitlines() == [
        f"1 of 10 successful usd charges (10 %) are above MAX_CHARGE_AMOUNT 10,000,000 on {DAY},"
        " more than MAX_IMPLAUSIBLE_SHARE 1 %; no such charge in in_charge now",
        f"5 of 10 survey answers (50 %) have no charge on {DAY}, more than MAX_ORPHAN_SHARE 5 %;"
        " every charge file of that day has rows"]


def test_a_day_the_audit_did_not_count_fails_saying_so(db):
    assert run(task("check_model_input")).splitlines()[1] == (
        f"model_input_audit has no row on {DAY}: nothing measured, which fails few_orphan_surveys"
        " (MAX_ORPHAN_SHARE 5 %); every charge file of that day has rows")


def test_the_model_table_gates_pass_on_enough_good_customers(db):
    staging(db, [(f"cus_{i}", 1, 2, 3, 100.5) for i in range(50)])
    assert [run(op) for op in gate_operators.model_satisfaction_checks(settings())] == [None, None]


def test_a_model_table_of_too_few_customers_says_how_many_and_what_the_day_had(db):
    staging(db, [(f"cus_{i}", 1, 2, 3, 100.5) for i in range(12)])
    model_input_audit(db, charges=14, other_currency=1, implausible=0, answers=12, orphans=0)
    assert run(task("check_model_satisfaction_rows")) == (
        f"model_satisfaction_staging has 12 customers on {DAY}, fewer than MIN_MODEL_ROWS 50;"
        " the day has 14 successful charges and 12 survey answers")


def test_a_broken_model_table_names_each_column_that_breaks_its_gate(db):
    staging(db, [("cus_1", 1, 2, 3, 100.5), ("cus_1", 12, 2, 3, 20_000_000.25), (None, 1, 2, 3, None),
                 ("cus_2", 1, 2, 3, 7)])
    assert run(task("check_model_satisfaction_columns")) == (
        f"model_satisfaction_staging on {DAY}: 1 of 4 customers have no customer_id;"
        " 1 of 4 customers repeat a customer_id another one has; 1 of 4 customers have no avg_amount_captured;"
        " avg_amount_captured is as high as 20,000,000.25, allowed from 0 to MAX_CHARGE_AMOUNT 10,000,000;"
        " customer_satisfaction_speed is as high as 12, allowed from 0 to 10")
    assert run(task("check_model_satisfaction_columns", settings(MAX_CHARGE_AMOUNT="30000000"))).count(";") == 3


def test_an_empty_model_table_fails_without_rows_to_check(db):
    staging(db, [])
    assert run(task("check_model_satisfaction_columns")) == (
        f"model_satisfaction_staging has no customers on {DAY}: nothing to check, an empty day fails its gates")


def test_when_the_words_cannot_be_found_the_checks_own_failure_stands(db, monkeypatch):
    """A failure of telling (here its query of the day's files) never hides the check's verdict."""
    from include.finance.edition import AirflowException

    model_input_audit(db, charges=10, other_currency=0, implausible=0, answers=10, orphans=5)
    op = task("check_model_input")
    monkeypatch.setattr(op, "_query", lambda *a: (_ for _ in ()).throw(RuntimeError("no words")))
    op.render_template_fields({"ds": DAY})
    with pytest.raises(AirflowException, match="few_orphan_surveys") as failed:
        op.execute({"ds": DAY})
    assert not isinstance(failed.value, gate_operators.GateFailed)


def test_the_staging_table_named_here_is_the_one_the_gates_read():
    assert CONTRACTS["charge"].table == "in_charge" and schema.MODEL_SATISFACTION_STAGING == "model_satisfaction_staging"
