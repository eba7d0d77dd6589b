"""The contract load against the real services, when things go wrong: a failed load and a database restart in the
middle of one leave the previous day whole, the deferrable sensors' trigger on the real endpoint, and the quality
gates that stop a day (too many rejects, no rows, implausible amounts, orphan surveys)."""


import psycopg2
import pytest

from include.finance import schema
from include.finance.loading import load_day, load_file
from include.finance.contract import SATISFACTION

from tests.db.load_helpers import (BUCKET, CHARGE_HEADER, SAT_HEADER, SCHEMA, audit, clear, db, put, query,  # noqa: F401
                                  run_load, s3, snapshot, t)

pytestmark = pytest.mark.integration


def test_the_days_key_is_attached_to_the_tables_and_the_transforms_columns_are_analyzed(db, s3):
    ds = "2026-03-25"
    clear(s3, ds)
    put(s3, ds, "satisfaction", "part_000.csv", SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,4,5,6,premium\ncus_1,7,7,7,basic\n")

    run_load("satisfaction", ds)
    assert query(db, "SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass",
                 t("in_satisfaction_20260325_pkey")) == [(f'"{SCHEMA}".in_satisfaction_pkey',)]
    assert query(db, "SELECT attname FROM pg_stats WHERE schemaname = %s AND tablename = 'in_satisfaction_20260325'"
                     " ORDER BY 1", SCHEMA) == [("customer_id",), ("ds",)]
    assert audit(db, ds, "satisfaction")["part_000.csv"][:4] == (3, 2, 0, 1)
    assert query(db, f"SELECT customer_id, customer_satisfaction_speed FROM {t('in_satisfaction')}"
                     " WHERE ds = %s ORDER BY 1", ds) == [("cus_1", 1), ("cus_2", 4)]


def test_a_failed_load_leaves_the_previous_day_untouched(stack, db, s3):
    ds = "2026-03-20"
    clear(s3, ds)
    put(s3, ds, "satisfaction", "part_000.csv", SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,4,5,6,premium\n")
    run_load("satisfaction", ds, run_id="good")
    before = snapshot(db, "in_satisfaction"), audit(db, ds, "satisfaction")

    def broken():
        yield SAT_HEADER + b"cus_3,1,2,3,basic\n"
        raise ConnectionError("S3 endpoint went away")

    files = {"s3://x/part_000.csv": lambda: iter([SAT_HEADER + b"cus_9,1,1,1,basic\n"]), "s3://x/part_001.csv": broken}
    conn = psycopg2.connect(stack.db_uri("finance"))
    with pytest.raises(ConnectionError):
        load_day.load_day(conn, SATISFACTION, files, ds, "bad", SCHEMA)
    conn.close()
    assert (snapshot(db, "in_satisfaction"), audit(db, ds, "satisfaction")) == before
    assert query(db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", "%_new") == [(0,)]


def test_a_database_restart_during_a_load_fails_it_cleanly_and_the_retry_loads_everything(stack, db, s3, monkeypatch):
    monkeypatch.setattr(load_file, "COPY_BUFFER_BYTES", 4096)  # rows reach the server in many COPY batches
    ds = "2026-03-21"
    clear(s3, ds)
    rows = b"".join(b"cus_%d,%d,5,5,basic\n" % (i, i % 11) for i in range(5000))
    put(s3, ds, "satisfaction", "part_000.csv", SAT_HEADER + rows)
    db.close()

    def restart_midway():
        yield SAT_HEADER + rows[: len(rows) // 2]
        stack.stop_postgres()
        stack.start_postgres()
        yield rows[len(rows) // 2:]

    conn = psycopg2.connect(stack.db_uri("finance"))
    with pytest.raises(psycopg2.Error, match="(?i)connection|terminat"):
        load_day.load_day(conn, SATISFACTION, {"s3://x/part_000.csv": restart_midway}, ds, "attempt_1", SCHEMA)
    conn.close()
    run_load("satisfaction", ds, run_id="attempt_2")  # what the task's retry does
    conn = psycopg2.connect(stack.db_uri("finance"))
    assert audit(conn, ds, "satisfaction") == {"part_000.csv": (5000, 5000, 0, 0, "")}
    assert query(conn, f"SELECT count(*) FROM {t('in_satisfaction')} WHERE ds = %s", ds) == [(5000,)]
    conn.close()


def test_the_deferrable_sensors_trigger_finds_a_key_on_the_real_endpoint(db, s3):
    """What the triggerer runs for `S3KeySensor(deferrable=True)` (needs aiobotocore in the image and lock)."""
    import asyncio

    from airflow.providers.amazon.aws.triggers.s3 import S3KeyTrigger

    s3.put_object(Bucket=BUCKET, Key="manifests/dt=2026-03-30/charge.json", Body=b"{}")
    trigger = S3KeyTrigger(bucket_name=BUCKET, bucket_key="manifests/dt=2026-03-30/charge.json",
                           aws_conn_id="aws_default", poke_interval=1)
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), 60))
    assert event.payload["status"] == "success", event.payload


def test_the_quality_gates_stop_a_day_with_too_many_rejects_or_no_rows(db, s3):
    """finance_elt's own gate tasks, run against a loaded day in the pipeline's schema."""
    from airflow.exceptions import AirflowException
    from tests.editions import DAGS_FOLDER, dagbag

    from include.finance.config import settings

    ds = "2026-04-01"
    clear(s3, ds)
    put(s3, ds, "charge", "part_000.csv", CHARGE_HEADER + b"ch_1,100,100,usd,1767225600,cus_1,true,succeeded,x\n"
                                                        + b"ch_2,-1,100,usd,1767225600,cus_1,true,succeeded,x\n")
    put(s3, ds, "satisfaction", "part_000.csv", SAT_HEADER)
    schema.create_tables(db, settings.db_schema)
    for kind in ("charge", "satisfaction"):
        run_load(kind, ds, schema=settings.db_schema)

    elt = dagbag(DAGS_FOLDER / "finance_elt.py").dags["finance_elt"]
    results, messages = {}, {}
    for task in elt.task_group_dict["check_loaded"].children.values():
        task.render_template_fields({"ds": ds})
        try:
            task.execute({"ds": ds})
            results[task.task_id] = "passed"
        except AirflowException as error:
            results[task.task_id] = "failed"
            messages[task.task_id] = str(error)
    assert results == {
        "check_loaded.check_in_charge_columns": "passed",
        "check_loaded.check_in_satisfaction_columns": "failed",  # no rows: a min or max of nothing is no pass
        "check_loaded.check_in_charge_rows": "passed",
        "check_loaded.check_in_satisfaction_rows": "failed",  # header-only file: no rows
        "check_loaded.check_charge_rejected_share": "failed",  # 1 of 2 rows rejected > 5%
        "check_loaded.check_satisfaction_rejected_share": "passed",
    }
    # what each says, in the words of the day's rows and files (tests/db/test_gate_messages.py: every gate)
    assert messages == {
        "check_loaded.check_in_satisfaction_columns":
            f"in_satisfaction has no survey answers on {ds}: nothing to check, an empty day fails its gates;"
            " satisfaction files that day: part_000.csv (header only)",
        "check_loaded.check_in_satisfaction_rows":
            f"in_satisfaction has 0 survey answers on {ds}, fewer than MIN_INPUT_ROWS 1;"
            " satisfaction files that day: part_000.csv (header only)",
        "check_loaded.check_charge_rejected_share":
            f"1 of 2 charge rows read on {ds} (50 %) were rejected, more than MAX_REJECTED_SHARE 5 %;"
            " rejected in: part_000.csv 1 of 2 rows (line 3: amount: not a non-negative integer: '-1')",
    }


def test_the_model_input_gate_stops_a_day_of_implausible_amounts_or_orphan_surveys(db, s3):
    """finance_elt's audit_model_input counts, in the loaded day, what model_satisfaction leaves out;
    check_model_input fails on the shares (config: MAX_IMPLAUSIBLE_SHARE, MAX_ORPHAN_SHARE)."""
    from airflow.exceptions import AirflowException
    from tests.editions import DAGS_FOLDER, dagbag

    from include.finance.config import settings

    ds = "2026-04-02"
    clear(s3, ds)
    put(s3, ds, "charge", "part_000.csv", CHARGE_HEADER + b"ch_1,100,100,usd,1767225600,cus_1,true,succeeded,x\n"
                                                        + b"ch_2,900000000000,900000000000,usd,1767225600,cus_1,true,succeeded,x\n"
                                                        + b"ch_3,100,100,eur,1767225600,cus_1,true,succeeded,x\n")
    put(s3, ds, "satisfaction", "part_000.csv", SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,1,2,3,basic\n")
    schema.create_tables(db, settings.db_schema)
    for kind in ("charge", "satisfaction"):
        run_load(kind, ds, schema=settings.db_schema)

    elt = dagbag(DAGS_FOLDER / "finance_elt.py").dags["finance_elt"]
    counts = elt.get_task("audit_model_input").python_callable(ds=ds, run_id="gate_test")
    assert counts == {"successful_charges": 3, "other_currency_charges": 1, "implausible_charges": 1,
                      "survey_answers": 2, "orphan_surveys": 1}
    check = elt.get_task("check_model_input")
    check.render_template_fields({"ds": ds})
    with pytest.raises(AirflowException) as failed:
        check.execute({"ds": ds})
    assert str(failed.value).splitlines() == [
        f"1 of 2 successful usd charges (50 %) are above MAX_CHARGE_AMOUNT 10,000,000 on {ds},"
        " more than MAX_IMPLAUSIBLE_SHARE 1 %; the largest: ch_2 900,000,000,000 (part_000.csv line 3)",
        f"1 of 2 survey answers (50 %) have no charge on {ds}, more than MAX_ORPHAN_SHARE 5 %;"
        " every charge file of that day has rows"]
