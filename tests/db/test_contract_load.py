"""The contract load against the real services: files in the S3 endpoint, rows in PostgreSQL.

The edition's `ContractLoadOperator` (the Astro SDK's `LoadFileOperator` subclass, or on Airflow 3 the plain
operator) runs as in a task (connections from the environment, as Airflow gives them), on a catalogue of malformed files, on reruns and a backfill, and through a failure and a restart of
the database server in the middle of a load. The schema's name needs quoting: every statement must quote it.
"""

import datetime as dt
import gzip
import json

import psycopg2
import pytest

from include.finance.loading import load_day, load_file
from include.finance.contract import SATISFACTION
from include.finance.loading.day_files import check_input_files
from include.finance.ingestion.mock_data import generate_mock_data
from tests.editions import AIRFLOW_3

from tests.db.load_helpers import (BUCKET, CHARGE_HEADER, SAT_HEADER, SCHEMA, audit, clear, db, put, query,  # noqa: F401
                                  rejects, run_load, s3, snapshot, t)

pytestmark = pytest.mark.integration

CATALOGUE = {
    # name: (body, (rows_read, rows_loaded, rows_rejected, duplicates_dropped))
    "a_reordered_extra_columns.csv": (
        b"status,paid,customer_id,created,currency,amount_captured,amount,id,vendor_note\n"
        b"succeeded,true,cus_1,1767225600,usd,1500,1500,ch_a1,hello\n",
        (1, 1, 0, 0),
    ),
    "b_crlf_bom.csv": (
        b"\xef\xbb\xbf" + CHARGE_HEADER.replace(b"\n", b"\r\n")
        + b"ch_b1,2000,2000,usd,1767225600,cus_1,True,succeeded,plain\r\n"
        + b'ch_b2,2500,2500,usd,1767225600,cus_2,t,succeeded,"two\r\nlines"\r\n',
        (2, 2, 0, 0),
    ),
    "c_quoted_text.csv": (
        CHARGE_HEADER + b'ch_c1,100,100,usd,1767225600,cus_3,yes,succeeded,"Invoice 7, ""gold"" plan\nline 2"\n',
        (1, 1, 0, 0),
    ),
    "d_bad_amounts.csv": (
        CHARGE_HEADER
        + b"ch_d1,abc,0,usd,1767225600,cus_4,false,failed,x\n"
        + b"ch_d2,,0,usd,1767225600,cus_4,false,failed,x\n"
        + b"ch_d3,-5,0,usd,1767225600,cus_4,false,failed,x\n"
        + b"ch_d4,5000000000,5000000000,usd,1767225600,cus_4,true,succeeded,big\n",
        (4, 1, 3, 0),
    ),
    "e_short_rows.csv": (CHARGE_HEADER + b"ch_e1,100,100,usd\n" + b"ch_e2,100,100,usd,1767225600,,true,succeeded,x\n",
                         (2, 0, 2, 0)),
    "f_empty.csv": (b"", (0, 0, 0, 0)),
    "g_header_only.csv": (CHARGE_HEADER, (0, 0, 0, 0)),
    "h_not_utf8.csv": (CHARGE_HEADER + b"ch_h1,100,100,usd,1767225600,cus_\xe9,true,succeeded,x\n"
                       + b"ch_h2,100,100,usd,1767225600,cus_5,true,succeeded,caf\xc3\xa9\n", (2, 1, 1, 0)),
    "i_duplicates.csv": (
        CHARGE_HEADER
        + b"ch_i1,100,100,usd,1767225600,cus_6,true,succeeded,first\n"
        + b"ch_i1,100,100,usd,1767225600,cus_6,true,succeeded,again in the same file\n"
        + b"ch_a1,999,999,usd,1767225600,cus_6,true,succeeded,seen in another file\n",
        (3, 1, 0, 2),
    ),
}


def test_catalogue_of_malformed_files_loses_nothing(db, s3):
    ds = "2026-03-01"
    clear(s3, ds)
    for name, (body, _) in CATALOGUE.items():
        put(s3, ds, "charge", name, body)

    table = run_load("charge", ds)

    assert table == f"{SCHEMA}.in_charge" if AIRFLOW_3 else table.name == "in_charge"  # the operator's output
    got = audit(db, ds, "charge")
    assert {name: row[:4] for name, row in got.items()} == {name: counts for name, (_, counts) in CATALOGUE.items()}
    for read, loaded, rejected, dropped, _ in got.values():
        assert read == loaded + rejected + dropped
    assert got["a_reordered_extra_columns.csv"][4].startswith("ignored columns: vendor_note; absent optional columns: amount_refunded")
    assert got["f_empty.csv"][4] == "empty file"
    assert got["g_header_only.csv"][4].startswith("header only")
    assert rejects(db, ds, "charge") == [
        ("d_bad_amounts.csv", 2, "amount: not a non-negative integer: 'abc'", "ch_d1,abc,0,usd,1767225600,cus_4,false,failed,x"),
        ("d_bad_amounts.csv", 3, "missing amount", "ch_d2,,0,usd,1767225600,cus_4,false,failed,x"),
        ("d_bad_amounts.csv", 4, "amount: not a non-negative integer: '-5'", "ch_d3,-5,0,usd,1767225600,cus_4,false,failed,x"),
        ("e_short_rows.csv", 2, "short row: 4 fields, header has 9", "ch_e1,100,100,usd"),
        ("e_short_rows.csv", 3, "missing customer_id", "ch_e2,100,100,usd,1767225600,,true,succeeded,x"),
        ("h_not_utf8.csv", 2, "bytes that are not UTF-8", "ch_h1,100,100,usd,1767225600,cus_\\xe9,true,succeeded,x"),
    ]
    loaded = dict(query(db, f"SELECT id, description FROM {t('in_charge')} WHERE ds = %s", ds))
    assert loaded == {
        "ch_a1": None, "ch_b1": "plain", "ch_b2": "two\r\nlines", "ch_c1": 'Invoice 7, "gold" plan\nline 2',
        "ch_d4": "big", "ch_h2": "café", "ch_i1": "first",
    }
    assert query(db, f"SELECT amount, paid FROM {t('in_charge')} WHERE id = 'ch_d4'") == [(5_000_000_000, True)]
    types = dict(query(db, "SELECT column_name, data_type FROM information_schema.columns"
                           " WHERE table_schema = %s AND table_name = 'in_charge'", SCHEMA))
    assert types["amount"] == "bigint" and types["paid"] == "boolean"
    assert types["payment_method_details_card_last4"] == "text" and types["created"] == "bigint"


def test_a_missing_required_column_is_found_before_anything_loads(db, s3):
    ds = "2026-03-02"
    clear(s3, ds)
    put(s3, ds, "satisfaction", "good.csv", SAT_HEADER + b"cus_1,1,2,3,basic\n")
    put(s3, ds, "satisfaction", "no_speed.csv", b"customer_id,customer_satisfaction_product,customer_satisfaction_service,product_type\n")
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    errors = check_input_files(S3Hook(aws_conn_id="aws_default"), {"satisfaction": f"s3://{BUCKET}/satisfaction/dt={ds}/"})
    assert errors == [
        f"s3://{BUCKET}/satisfaction/dt={ds}/no_speed.csv: required column customer_satisfaction_speed missing from"
        " the header (line 1); the satisfaction contract requires customer_id, customer_satisfaction_speed,"
        " customer_satisfaction_product, customer_satisfaction_service, product_type"
    ]


def test_empty_and_header_only_files_pass_the_header_check_on_the_real_endpoint(db, s3):
    """S3 answers a ranged GET of a zero-byte object with InvalidRange: the check must read it as empty."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    ds = "2026-03-03"
    clear(s3, ds)
    put(s3, ds, "charge", "empty.csv", b"")
    put(s3, ds, "charge", "header_only.csv", CHARGE_HEADER)
    assert check_input_files(S3Hook(aws_conn_id="aws_default"), {"charge": f"s3://{BUCKET}/charge/dt={ds}/"}) == []


def test_the_audit_counts_the_rows_that_landed_so_its_identity_can_fail(db, s3, monkeypatch):
    """rows_loaded is counted in the new partition: a step that loses rows without saying so breaks the
    audit's CHECK (rows_read = rows_loaded + rows_rejected + duplicates_dropped) and the load fails."""
    ds = "2026-03-04"
    clear(s3, ds)
    put(s3, ds, "charge", "part_000.csv", CATALOGUE["i_duplicates.csv"][0])
    assert audit(db, ds, "charge") == {}
    drop_duplicates = load_day.drop_duplicates
    monkeypatch.setattr(load_day, "drop_duplicates", lambda *args: drop_duplicates(*args) and {})  # deletes, reports none
    with pytest.raises(psycopg2.errors.CheckViolation, match="load_audit"):
        run_load("charge", ds)
    assert audit(db, ds, "charge") == {}
    monkeypatch.setattr(load_day, "drop_duplicates", drop_duplicates)
    run_load("charge", ds)
    assert {file: counts[:4] for file, counts in audit(db, ds, "charge").items()} == {"part_000.csv": (3, 2, 0, 1)}


def put_manifest(s3, ds: str, kind: str, lines: dict[str, int]) -> str:
    """The manifest in_finance_data writes: each file's key and its lines after the header."""
    key = f"manifests/dt={ds}/{kind}.json"
    files = [{"key": f"{kind}/dt={ds}/{name}", "rows": n, "bytes": 0} for name, n in lines.items()]
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"kind": kind, "ds": ds, "files": files}).encode())
    return f"s3://{BUCKET}/{key}"


def test_the_manifest_decides_what_loads_and_a_csv_gz_streams(db, s3):
    """Files the manifest lists load (a .csv.gz decompressed as it streams); a listed file that is not in
    the bucket, or whose lines differ from the manifest, stops the day with its name; files the manifest
    does not list and files that are not CSV are listed in the audit as ignored."""
    from airflow.exceptions import AirflowFailException
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    ds = "2026-03-05"
    clear(s3, ds)
    put(s3, ds, "satisfaction", "a.csv", SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,4,5,6,premium\n")
    put(s3, ds, "satisfaction", "b.csv.gz", gzip.compress(SAT_HEADER + b"cus_3,7,8,9,basic\n" * 1)
        + gzip.compress(b"cus_4,1,1,1,premium\n"))  # two gzip members, as `cat a.gz b.gz` makes
    put(s3, ds, "satisfaction", "late.csv", SAT_HEADER + b"cus_9,1,1,1,basic\n")
    put(s3, ds, "satisfaction", "README.txt", b"exported by the ERP\n")
    prefix = {"satisfaction": f"s3://{BUCKET}/satisfaction/dt={ds}/"}
    hook = S3Hook(aws_conn_id="aws_default")

    manifest = put_manifest(s3, ds, "satisfaction", {"a.csv": 2, "b.csv.gz": 2, "gone.csv": 1})
    assert check_input_files(hook, prefix, {"satisfaction": manifest}) == [
        f"s3://{BUCKET}/satisfaction/dt={ds}/gone.csv: listed in the manifest {manifest} but not in the bucket"]

    manifest = put_manifest(s3, ds, "satisfaction", {"a.csv": 3, "b.csv.gz": 2})
    assert check_input_files(hook, prefix, {"satisfaction": manifest}) == []
    with pytest.raises(AirflowFailException, match=f"s3://{BUCKET}/satisfaction/dt={ds}/a.csv: 2 lines after the"
                                                  " header, but its manifest lists 3"):
        run_load("satisfaction", ds, manifest=manifest)
    assert audit(db, ds, "satisfaction") == {}

    manifest = put_manifest(s3, ds, "satisfaction", {"a.csv": 2, "b.csv.gz": 2})
    run_load("satisfaction", ds, manifest=manifest)
    assert audit(db, ds, "satisfaction") == {
        "a.csv": (2, 2, 0, 0, ""),
        "b.csv.gz": (2, 2, 0, 0, ""),
        "late.csv": (0, 0, 0, 0, f"ignored: not listed in the manifest {manifest}"),
        "README.txt": (0, 0, 0, 0, "ignored: not a .csv or .csv.gz file"),
    }
    assert query(db, f"SELECT customer_id FROM {t('in_satisfaction')} WHERE ds = %s ORDER BY 1", ds) == [
        ("cus_1",), ("cus_2",), ("cus_3",), ("cus_4",)]

    run_load("satisfaction", ds)  # no manifest: every CSV in the prefix loads
    assert set(audit(db, ds, "satisfaction")) == {"a.csv", "b.csv.gz", "late.csv", "README.txt"}
    assert audit(db, ds, "satisfaction")["late.csv"][:2] == (1, 1)


def test_a_broken_csv_gz_stops_the_load_with_its_name(db, s3):
    from airflow.exceptions import AirflowFailException

    ds = "2026-03-06"
    clear(s3, ds)
    whole = gzip.compress(SAT_HEADER + b"".join(b"cus_%d,1,2,3,basic\n" % i for i in range(1000)))
    put(s3, ds, "satisfaction", "cut.csv.gz", whole[:-20])  # the end of the stream and its trailer are lost
    with pytest.raises(AirflowFailException, match=f"s3://{BUCKET}/satisfaction/dt={ds}/cut.csv.gz: the gzip stream ends early"):
        run_load("satisfaction", ds)
    put(s3, ds, "satisfaction", "cut.csv.gz", b"not gzip at all\n")
    with pytest.raises(AirflowFailException, match="cut.csv.gz: not a valid gzip file"):
        run_load("satisfaction", ds)


def test_hostile_files_are_bounded_the_same_on_both_paths(db, s3):
    """A line past MAX_LINE_BYTES: COPY gives the file up (PostgreSQL would load it), the row reader
    rejects that one line with the start of its text; a quote never closed mid-file rejects one line;
    a header wider than PostgreSQL allows stops the day in the header check, naming the file."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.finance.contract import MAX_LINE_BYTES, PG_MAX_COLUMNS, RAW_PREVIEW_BYTES

    ds = "2026-03-07"
    clear(s3, ds)
    put(s3, ds, "satisfaction", "long.csv", SAT_HEADER + b"cus_1,1,2,3," + b"x" * (MAX_LINE_BYTES + 1) + b"\n"
        + b"cus_2,4,5,6,premium\n")
    put(s3, ds, "satisfaction", "quote.csv", SAT_HEADER + b'cus_3,1,2,3,"basic\ncus_4,1,2,3,basic\n')
    run_load("satisfaction", ds)
    assert audit(db, ds, "satisfaction") == {"long.csv": (2, 1, 1, 0, ""), "quote.csv": (2, 1, 1, 0, "")}
    assert [(f, line, reason, len(raw)) for f, line, reason, raw in rejects(db, ds, "satisfaction")] == [
        ("long.csv", 2, f"line longer than {MAX_LINE_BYTES} bytes", RAW_PREVIEW_BYTES + 3),
        ("quote.csv", 2, "malformed CSV: a quote not closed before the end of the file", 18)]
    assert query(db, f"SELECT customer_id FROM {t('in_satisfaction')} WHERE ds = %s ORDER BY 1", ds) == [
        ("cus_2",), ("cus_4",)]
    wide = ",".join(["customer_id,customer_satisfaction_speed,customer_satisfaction_product,"
                     "customer_satisfaction_service,product_type"] + [f"x{i}" for i in range(PG_MAX_COLUMNS)])
    put(s3, ds, "satisfaction", "wide.csv", wide.encode() + b"\n")
    [error] = check_input_files(S3Hook(aws_conn_id="aws_default"), {"satisfaction": f"s3://{BUCKET}/satisfaction/dt={ds}/"})
    assert error.startswith(f"s3://{BUCKET}/satisfaction/dt={ds}/wide.csv: line 1: 1600 columns the satisfaction"
                            " contract does not know")


def test_a_line_of_max_line_bytes_loads_by_either_path_and_one_byte_more_is_rejected(stack, db):
    """The long-line limit at its boundary in the real database (tests/unit/test_line_limit.py cuts the bytes
    every way): a row of MAX_LINE_BYTES (its line break not counted) loads by COPY, and by the row reader
    when COPY refuses another row of its file; one byte more makes COPY give its file up, and the row
    reader rejects that row alone."""
    from include.finance.contract import MAX_LINE_BYTES
    from include.finance.loading.day_files import CHUNK_BYTES

    def row(customer: str, size: int) -> bytes:
        start = f"{customer},1,2,3,basic,".encode()  # then an unknown column, as long as it takes
        return start + b"x" * (size - len(start)) + b"\n"

    ds, header = "2026-03-08", SAT_HEADER.replace(b"\n", b",note\n")
    files = {"s3://x/exact.csv": header + row("cus_1", MAX_LINE_BYTES) + b"cus_2,4,5,6,premium,n\n",
             "s3://x/exact_and_a_bad_score.csv": header + row("cus_3", MAX_LINE_BYTES) + b"cus_x,11,5,6,premium,n\n",
             "s3://x/over.csv": header + row("cus_4", MAX_LINE_BYTES + 1) + b"cus_5,4,5,6,premium,n\n"}
    assert [len(body.split(b"\n")[1]) for body in files.values()] == [MAX_LINE_BYTES, MAX_LINE_BYTES, MAX_LINE_BYTES + 1]
    conn = psycopg2.connect(stack.db_uri("finance"))
    audits = load_day.load_day(conn, SATISFACTION, {
        name: (lambda body=body: iter([body[i:i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)]))
        for name, body in files.items()}, ds, "limit", SCHEMA)
    conn.close()
    assert {a.file.rsplit("/", 1)[1]: (a.loaded_by, a.rows_read, a.rows_loaded, a.rows_rejected) for a in audits} == {
        "exact.csv": ("copy", 2, 2, 0), "exact_and_a_bad_score.csv": ("row reader", 2, 1, 1),
        "over.csv": ("row reader", 2, 1, 1)}
    assert query(db, f"SELECT customer_id FROM {t('in_satisfaction')} WHERE ds = %s ORDER BY 1", ds) == [
        ("cus_1",), ("cus_2",), ("cus_3",), ("cus_5",)]
    assert [(f, line, reason) for f, line, reason, _ in rejects(db, ds, "satisfaction")] == [
        ("exact_and_a_bad_score.csv", 3, "customer_satisfaction_speed: not an integer from 0 to 10: '11'"),
        ("over.csv", 2, f"line longer than {MAX_LINE_BYTES} bytes")]


def generated_day(s3, ds: str, tmp_path) -> dict[str, int]:
    clear(s3, ds)
    files = generate_mock_data(tmp_path / ds, dt.date.fromisoformat(ds), customers=300, parts=2)
    for kind, paths in files.items():
        for path in paths:
            put(s3, ds, kind, path.name, path.read_bytes())
    return {kind: sum(len(p.read_text().splitlines()) - 1 for p in paths) for kind, paths in files.items()}


def test_rerun_leaves_identical_tables_and_a_backfill_adds_partitions(db, s3, tmp_path):
    days = ["2026-03-10", "2026-03-11", "2026-03-12"]
    sizes = {ds: generated_day(s3, ds, tmp_path) for ds in days}
    for ds in days:
        for kind in ("charge", "satisfaction"):
            run_load(kind, ds, run_id=f"backfill_{ds}")
    first = {t: snapshot(db, t) for t in ("in_charge", "in_satisfaction")}
    partitions = query(db, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                           " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
                           " WHERE p.relname = 'in_charge' AND n.nspname = %s ORDER BY 1", SCHEMA)
    assert [p for (p,) in partitions] == ["in_charge_20260310", "in_charge_20260311", "in_charge_20260312"]
    for ds in days:
        counts = dict(query(db, f"SELECT 'charge', count(*) FROM {t('in_charge')} WHERE ds = %s UNION ALL"
                                f" SELECT 'satisfaction', count(*) FROM {t('in_satisfaction')} WHERE ds = %s", ds, ds))
        assert counts == sizes[ds]

    for kind in ("charge", "satisfaction"):  # the same day again
        run_load(kind, days[1], run_id="rerun")
    assert {t: snapshot(db, t) for t in ("in_charge", "in_satisfaction")} == first
    assert query(db, f"SELECT count(*), count(DISTINCT (ds, id)) FROM {t('in_charge')}") == [(len(first["in_charge"]),) * 2]
    assert query(db, f"SELECT ds::text, run_id FROM {t('load_audit')} WHERE kind = 'charge' GROUP BY 1, 2 ORDER BY 1") == [
        ("2026-03-10", "backfill_2026-03-10"), ("2026-03-11", "rerun"), ("2026-03-12", "backfill_2026-03-12"),
    ]


EDGE_VALUES = (  # values COPY accepts: the row reader must read them the same way
    b"vendor,status,paid,customer_id,created,currency,amount_captured,amount,id,description,disputed,outcome_reason\n"
    b'x,succeeded, TRUE ,cus_1,1767225600,usd,+1500, 1500 ,ch_e1,  spaces kept  ,of,""\n'
    b'y,failed,off,cus_2,1767225600,usd,0,0042,ch_e2,"quoted, with ""quotes""",on,\n'
)


def test_clean_files_go_by_copy_and_give_the_rows_the_row_reader_gives(db, s3, tmp_path, monkeypatch):
    ds = "2026-03-15"
    generated_day(s3, ds, tmp_path)
    put(s3, ds, "charge", "edge_values.csv", EDGE_VALUES)

    def load_both_kinds():
        for kind in ("charge", "satisfaction"):
            run_load(kind, ds)
        return ({t: snapshot(db, t) for t in ("in_charge", "in_satisfaction")},
                query(db, f"SELECT kind, file, rows_read, rows_loaded, note FROM {t('load_audit')} WHERE ds = %s"
                          " ORDER BY 1, 2", ds),
                {loaded_by for (loaded_by,) in query(db, f"SELECT loaded_by FROM {t('load_audit')} WHERE ds = %s", ds)})

    tables, audits, paths = load_both_kinds()
    assert paths == {"copy"} and len(audits) == 5
    edge = [row for row in tables["in_charge"] if row[1] in ("ch_e1", "ch_e2")]
    assert [(r[1], r[2], r[3], r[8], r[9], r[11]) for r in edge] == [
        ("ch_e1", 1500, 1500, "  spaces kept  ", False, None), ("ch_e2", 42, 0, 'quoted, with "quotes"', True, None)]

    monkeypatch.setattr(load_file, "copy_file", lambda *args: False)  # every file through the row reader
    assert load_both_kinds() == (tables, audits, {"row reader"})
