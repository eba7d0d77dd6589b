"""The long-line limit (contract.MAX_LINE_BYTES) at its boundary, on every path that reads a file's lines:
the header check before the day loads (input_files.check_input_files, on the object's first bytes), the
COPY path's stream (load_files.Stream, in copy_file) and the row reader (reader.RowReader, in read_file
and in every header read).

A line of MAX_LINE_BYTES is MAX_LINE_BYTES bytes without the "\\n" that ends it (a "\\r" before the "\\n" is
one of the line's bytes; the file's last line need not end with "\\n"): that line loads, one byte more
is a line too long, however the file's bytes are cut into chunks. tests/db/test_contract_load.py loads
both into the real database."""

import gzip

import psycopg2
import pytest
from psycopg2 import sql as pgsql

from include.finance.contract import MAX_LINE_BYTES, SATISFACTION, ContractError
from include.finance.loading import day_files, load_file
from include.finance.loading.load_file import FileAudit, Stream
from include.finance.loading.reader import RowReader
from tests.unit.input_fixtures import DS, put
from tests.unit.sql_text import text

# the contract's columns and one it does not know (ignored, on both paths), which pads a line to its length
HEADER = (b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,"
          b"product_type,note")
PREFIX = b"cus_1,1,2,3,basic,"
NEXT = b"cus_2,4,5,6,premium,n\n"
SIZES = {"a line of MAX_LINE_BYTES": MAX_LINE_BYTES, "one byte more": MAX_LINE_BYTES + 1}


def line(size: int) -> bytes:
    """A good row of exactly `size` bytes, its line break not counted."""
    return PREFIX + b"x" * (size - len(PREFIX))


def file(size: int, last: bool) -> tuple[bytes, int]:
    """The header and a row of `size` bytes, the file's last line or followed by another; where the long
    line ends (the offset of its "\\n", or the file's end)."""
    data = HEADER + b"\n" + line(size) + (b"" if last else b"\n" + NEXT)
    end = len(HEADER) + 1 + size
    assert data[len(HEADER) + 1:end] == line(size) and len(line(size)) == size
    return data, end


def in_chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def chunkings(data: bytes, end: int) -> dict[str, list[bytes]]:
    """The same bytes cut every way that matters to a reader that carries a line over from chunk to chunk."""
    return {
        "one chunk": [data],
        "64 KiB chunks": in_chunks(data, 1 << 16),
        "1 MiB chunks (the S3 stream's)": in_chunks(data, day_files.CHUNK_BYTES),
        "cut just before the line break": [data[:end], data[end:]],
        "cut just after the line break": [data[:end + 1], data[end + 1:]],
        "cut inside the line": [data[:end - 1000], data[end - 1000:]],
        "cut at the line's start": [data[:len(HEADER) + 1], data[len(HEADER) + 1:]],
    }


CASES = [pytest.param(size, last, how, id=f"{name}, {'last line' if last else 'line break'}, {how}")
         for name, size in SIZES.items() for last in (False, True)
         for how in chunkings(*file(size, last))]


def cut(size: int, last: bool, how: str) -> list[bytes]:
    return [chunk for chunk in chunkings(*file(size, last))[how] if chunk]


@pytest.mark.parametrize("size, last, how", CASES)
def test_the_row_reader_loads_a_line_of_the_limit_and_rejects_one_byte_more(size, last, how):
    reader = RowReader(SATISFACTION, cut(size, last, how), "f.csv")
    rows = list(reader)
    after = [] if last else [(3, ["cus_2", "4", "5", "6", "premium"])]
    if size <= MAX_LINE_BYTES:
        assert (rows, reader.rejects) == ([(2, ["cus_1", "1", "2", "3", "basic"])] + after, [])
    else:
        assert rows == after
        [reject] = reader.rejects
        assert (reject.line, reject.reason) == (2, f"line longer than {MAX_LINE_BYTES} bytes")
    assert reader.rows_read == 1 + len(after)


@pytest.mark.parametrize("size, last, how", CASES)
def test_the_copy_stream_passes_a_line_of_the_limit_and_stops_at_one_byte_more(size, last, how):
    stream = Stream(cut(size, last, how), "f.csv")
    if size <= MAX_LINE_BYTES:
        data = b""
        while chunk := stream.read():
            data += chunk
        assert data == file(size, last)[0] and stream.lines == 2 + (not last)
    else:
        with pytest.raises(load_file.LineTooLong, match="f.csv: a line longer than"):
            while stream.read():
                pass


class CopyCursor:
    """What copy_file asks of a cursor; COPY reads the whole stream as psycopg2 does, and an error in
    reading it comes back as PostgreSQL's cancelled COPY."""

    def __init__(self):
        self.statements, self.rowcount = [], 0

    def execute(self, statement, params=None):
        self.statements.append(text(statement))

    def copy_expert(self, statement, stream):
        data = b""
        try:
            while chunk := stream.read():
                data += chunk
        except Exception as error:
            raise psycopg2.extensions.QueryCanceledError("COPY from stdin failed: error in .read() call") from error
        self.rowcount = len(data.splitlines()) - 1


@pytest.mark.parametrize("last", [False, True], ids=["line break", "last line"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_copy_file_loads_a_line_of_the_limit_and_gives_one_byte_more_to_the_row_reader(size, last):
    cur, audit = CopyCursor(), FileAudit(DS, "satisfaction", "f.csv")
    chunks = in_chunks(file(size, last)[0], day_files.CHUNK_BYTES)
    copied = load_file.copy_file(cur, pgsql.Identifier("new"), SATISFACTION, "f.csv", lambda: chunks, audit, set())
    assert copied == (size <= MAX_LINE_BYTES)
    assert cur.statements[-1] == ('RELEASE SAVEPOINT "copy_file"' if copied else 'ROLLBACK TO SAVEPOINT "copy_file"')
    assert (audit.loaded_by, audit.rows_read) == (("copy", 1 + (not last)) if copied else ("", 0))


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_the_header_check_passes_a_header_of_the_limit_and_names_one_byte_more(s3, size, gz):
    """The check reads only the object's first bytes: enough of them to see a header one byte too long."""
    client, hook = s3
    header = HEADER + b"," + b"h" * (size - len(HEADER) - 1)  # one more unknown column, as long as it takes
    body = header + b"\n" + PREFIX + b"n,\n"
    assert len(header) == size
    put(client, f"satisfaction/dt={DS}/f.csv" + (".gz" if gz else ""), gzip.compress(body) if gz else body)
    errors = day_files.check_input_files(hook, {"satisfaction": f"s3://bucket/satisfaction/dt={DS}/"})
    name = f"s3://bucket/satisfaction/dt={DS}/f.csv" + (".gz" if gz else "")
    too_long = f"{name}: line 1: the header is longer than {MAX_LINE_BYTES} bytes"
    assert errors == ([] if size <= MAX_LINE_BYTES else [too_long])


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_the_row_reader_reads_a_header_of_the_limit_and_refuses_one_byte_more(size):
    header = HEADER + b"," + b"h" * (size - len(HEADER) - 1)
    reader = RowReader(SATISFACTION, [header + b"\n" + PREFIX + b"n,\n"], "f.csv")
    if size <= MAX_LINE_BYTES:
        assert reader.read_header().ignored == ["note", "h" * (size - len(HEADER) - 1)]
        assert [values for _, values in reader] == [["cus_1", "1", "2", "3", "basic"]]
    else:
        with pytest.raises(ContractError, match=f"f.csv: line 1: the header is longer than {MAX_LINE_BYTES} bytes"):
            reader.read_header()
