"""The load's pieces without a database: the COPY stream, the two paths' bookkeeping and the order of a
day's statements, on a recording cursor (tests/db/test_contract_load.py runs them against PostgreSQL)."""

import psycopg2
import pytest
from psycopg2 import sql as pgsql

from include.finance.contract import MAX_LINE_BYTES, SATISFACTION, ContractError
from include.finance.loading import load_day, load_file
from include.finance.loading.load_file import FileAudit, Stream
from tests.unit.sql_text import text

SAT_HEADER = b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,product_type\n"
NEW = pgsql.Identifier("s", "in_satisfaction_20261120_new")


class Cursor:
    """Records statements; COPY reads its whole stream and may refuse it, as PostgreSQL would."""

    def __init__(self, refuse: Exception | None = None, fetched: list | None = None):
        self.statements, self.copied, self.refuse, self.rowcount, self.fetched = [], [], refuse, 0, fetched or []

    def execute(self, statement, params=None):
        self.statements.append(text(statement))

    def copy_expert(self, statement, stream):
        data = b""
        while chunk := stream.read():
            data += chunk if isinstance(chunk, bytes) else chunk.encode()
        if self.refuse:
            raise self.refuse
        self.copied.append((text(statement), data))
        self.rowcount = max(data.count(b"\n") - 1, 0)

    def fetchall(self):
        return self.fetched

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


def test_the_stream_counts_lines_and_stops_at_a_line_too_long():
    stream = Stream([b"a,b\n1,", b"2\n3,4"], "f.csv")
    while stream.read():
        pass
    assert stream.lines == 3  # the last line has no line break
    stream = Stream([b"a\n" + b"x" * MAX_LINE_BYTES, b"x\n"], "f.csv")
    stream.read()
    with pytest.raises(load_file.LineTooLong, match="f.csv: a line longer than"):
        stream.read()


def test_a_clean_file_goes_by_copy_and_its_rows_are_counted():
    cur, audit = Cursor(), FileAudit("2026-11-20", "satisfaction", "f.csv")
    body = SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,4,5,6,premium\n"
    assert load_file.copy_file(cur, NEW, SATISFACTION, "f.csv", lambda: [body], audit, set())
    assert (audit.rows_read, audit.lines, audit.loaded_by, audit.note) == (2, 2, "copy", "")
    [(statement, data)] = cur.copied
    assert data == body and "HEADER true" in statement
    assert cur.statements[-1] == 'RELEASE SAVEPOINT "copy_file"'


@pytest.mark.parametrize("refusal", [psycopg2.DataError("invalid input syntax"), psycopg2.IntegrityError("check")])
def test_a_file_copy_refuses_is_rolled_back_and_read_row_by_row(refusal):
    cur, audit = Cursor(refuse=refusal), FileAudit("2026-11-20", "satisfaction", "f.csv")
    assert not load_file.copy_file(cur, NEW, SATISFACTION, "f.csv", lambda: [SAT_HEADER + b"cus_1,x,2,3,basic\n"],
                                    audit, set())
    assert cur.statements[-1] == 'ROLLBACK TO SAVEPOINT "copy_file"' and audit.loaded_by == ""
    # the day's load then reads the same file row by row: the bad score is a reject, the good row is copied
    conn = Cursor(refuse=refusal, fetched=[])
    conn.cursor = lambda: conn
    refusing_copy = conn.copy_expert

    def copy_expert(statement, stream):  # COPY refuses the file; the reader's own COPYs go through
        if "FROM STDIN WITH (FORMAT csv, HEADER" in text(statement):
            return refusing_copy(statement, stream)
        conn.refuse = None
        Cursor.copy_expert(conn, statement, stream)
        conn.refuse = refusal

    conn.copy_expert = copy_expert
    body = SAT_HEADER + b"cus_1,x,2,3,basic\ncus_2,1,2,3,basic\n"
    (audit,) = load_day.load_day(conn, SATISFACTION, {"s3://b/f.csv": lambda: [body]}, "2026-11-20", "r1", "s")
    assert (audit.loaded_by, audit.rows_read, audit.rows_rejected) == ("row reader", 2, 1)


def test_a_record_over_two_lines_is_read_row_by_row_for_its_line_numbers():
    cur, audit = Cursor(), FileAudit("2026-11-20", "satisfaction", "f.csv")
    body = SAT_HEADER + b'cus_1,1,2,3,"basic\nplan"\n'
    cur.copy_expert = lambda statement, stream: (stream.read(), stream.read(), setattr(cur, "rowcount", 1))
    assert not load_file.copy_file(cur, NEW, SATISFACTION, "f.csv", lambda: [body], audit, set())
    assert cur.statements[-1] == 'ROLLBACK TO SAVEPOINT "copy_file"'


def test_unknown_columns_are_copied_into_ignored_columns_of_the_partition():
    cur, ignored = Cursor(), set()
    body = b"vendor," + SAT_HEADER.replace(b"\n", b",note\n") + b"v,cus_1,1,2,3,basic,n\n"
    audit = FileAudit("2026-11-20", "satisfaction", "f.csv")
    assert load_file.copy_file(cur, NEW, SATISFACTION, "f.csv", lambda: [body], audit, ignored)
    assert ignored == {"_ignored_0", "_ignored_1"}
    assert 'ALTER TABLE "s"."in_satisfaction_20261120_new" ADD COLUMN "_ignored_0" text' in cur.statements
    assert audit.note == "ignored columns: vendor, note"


def test_the_row_reader_path_copies_good_rows_and_stages_the_rejected_ones():
    cur, audit = Cursor(), FileAudit("2026-11-20", "satisfaction", "f.csv")
    rejects = load_file.CopyBuffer(cur, pgsql.Identifier("stage_rejects"), ["file", "line", "reason", "raw_line"])
    load_file.read_file(cur, NEW, SATISFACTION, "f.csv", lambda: [SAT_HEADER + b"cus_1,1,2,3,basic\ncus_2,11,2,3,basic\n"],
                         audit, rejects)
    rejects.flush()
    (good_statement, good), (_, bad) = cur.copied
    assert '"source_file", "source_line"' in good_statement and good == b"cus_1,1,2,3,basic,f.csv,2\n"
    assert bad == b"f.csv,3,customer_satisfaction_speed: not an integer from 0 to 10: '11',\"cus_2,11,2,3,basic\"\n"
    assert (audit.rows_read, audit.rows_rejected, audit.loaded_by) == (2, 1, "row reader")


def test_notes_name_empty_files_header_only_files_and_columns():
    assert load_file.note(None, 0) == "empty file"
    from include.finance.loading.reader import match_header

    header = match_header(SATISFACTION, ["customer_id", "customer_satisfaction_speed", "customer_satisfaction_product",
                                         "customer_satisfaction_service", "product_type", "extra"], "f.csv")
    assert load_file.note(header, 0) == "header only; ignored columns: extra"


def test_check_headers_lists_the_error_of_each_file():
    errors = load_day.check_headers(SATISFACTION, {"b.csv": b"customer_id\n", "a.csv": SAT_HEADER, "c.csv": b""})
    assert len(errors) == 1 and errors[0].startswith("b.csv: required columns customer_satisfaction_speed")


def test_a_day_is_built_aside_keyed_and_swapped_in_before_its_audit_is_written():
    conn = Cursor(fetched=[])
    conn.cursor = lambda: conn
    audits = load_day.load_day(conn, SATISFACTION, {"s3://b/f.csv": lambda: [SAT_HEADER + b"cus_1,1,2,3,basic\n"]},
                           "2026-11-20", "r1", "s", ignored_files={"s3://b/README": "ignored: not a .csv file"})
    assert [(a.file, a.loaded_by) for a in audits] == [("s3://b/f.csv", "copy"), ("s3://b/README", "ignored")]
    order = [next(i for i, s in enumerate(conn.statements) if prefix in s) for prefix in (
        'CREATE TABLE "s"."in_satisfaction_20261120_new" (LIKE "s"."in_satisfaction"',
        'ALTER TABLE "s"."in_satisfaction_20261120_new" ADD CONSTRAINT "in_satisfaction_20261120_new_pkey" PRIMARY KEY ("customer_id", ds)',
        'DROP TABLE IF EXISTS "s"."in_satisfaction_20261120"',
        'ALTER TABLE "s"."in_satisfaction" ATTACH PARTITION "s"."in_satisfaction_20261120"',
        'DELETE FROM "s"."load_audit" WHERE ds',
        'INSERT INTO "s"."load_audit"',
    )]
    assert order == sorted(order)


def test_a_file_that_is_not_its_manifests_stops_the_day():
    conn = Cursor()
    conn.cursor = lambda: conn
    with pytest.raises(ContractError, match="f.csv: 1 lines after the header, but its manifest lists 2"):
        load_day.load_day(conn, SATISFACTION, {"f.csv": lambda: [SAT_HEADER + b"cus_1,1,2,3,basic\n"]}, "2026-11-20", "r1", "s",
                      expected_lines={"f.csv": 2})
    assert not any(s.startswith("INSERT") for s in conn.statements)
