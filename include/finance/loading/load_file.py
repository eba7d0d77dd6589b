"""One input file into the day's new partition, by one of two paths that give the same rows for a clean file:

- `copy_file`, the fast path: the whole file streamed to PostgreSQL's `COPY`, which parses it and checks
  the rows against the partition's constraints (the contract). It gives the file up, writing nothing,
  when PostgreSQL refuses it (a bad value, a short row, bytes that are not UTF-8, ...), when a record
  spans lines (line numbers must then come from the row reader) or when a line is too long.
- `read_file`, the exact path: every row checked by `reader.RowReader`; good rows go in by `COPY`,
  rejected ones (file, line, reason, raw text) into a staging table for `load_rejects`.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql as pgsql

from include.finance import sql
from include.finance.contract import MAX_LINE_BYTES, Contract
from include.finance.loading.reader import Header, RowReader
from include.finance.schema import file_defaults_statement

log = logging.getLogger(__name__)

COPY_BUFFER_BYTES = 8 << 20  # rows are sent to Postgres in COPY batches of about this size
PROGRESS_SECONDS = 10  # a log line at least this often while a file loads

ChunkSource = Callable[[], Iterable[bytes]]  # opens one file: its bytes, chunk by chunk


@dataclass
class FileAudit:
    ds: str
    kind: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    duplicates_dropped: int = 0
    note: str = ""
    loaded_by: str = ""  # "copy" (the fast path), "row reader" or "ignored"
    run_id: str = ""
    lines: int = 0  # lines after the header, counted as the file streamed (compared with its manifest; not stored)


class CopyBuffer:
    """Rows as CSV text, sent to Postgres with COPY whenever the buffer is full (memory stays flat)."""

    def __init__(self, cur, table: pgsql.Composable, columns: Sequence[str]):
        self.cur = cur
        self.statement = sql.compose("load/copy_rows.sql", table=table, columns=sql.identifiers(columns))
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")

    def add(self, row: Sequence) -> None:
        self.writer.writerow(row)
        if self.buffer.tell() >= COPY_BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer.tell():
            self.buffer.seek(0)
            self.cur.copy_expert(self.statement, self.buffer)
            self.buffer.seek(0)
            self.buffer.truncate()


class LineTooLong(Exception):
    """A line longer than MAX_LINE_BYTES: the row reader rejects it, COPY must not load it."""


class Stream:
    """A file's chunks as the file-like object `copy_expert` reads, counting lines, finding a line longer
    than MAX_LINE_BYTES (in time linear in the file) and logging progress."""

    def __init__(self, chunks: Iterable[bytes], file: str):
        self.chunks = iter(chunks)
        self.file = file
        self.lines = 0  # newline characters seen, plus one for a last line without one
        self.bytes = 0
        self._last = b"\n"
        self._open = 0  # bytes since the last newline
        self._reported = time.monotonic()
        self.error: Exception | None = None

    def read(self, _size: int = -1) -> bytes:
        try:
            chunk = next(self.chunks, b"")
            self._check_lines(chunk)
        except Exception as exc:  # psycopg2 reports it as a cancelled COPY: keep the cause for the caller
            self.error = exc
            raise
        if chunk:
            self.lines += chunk.count(b"\n")
            self.bytes += len(chunk)
            self._last = chunk[-1:]
            if time.monotonic() - self._reported >= PROGRESS_SECONDS:
                self._reported = time.monotonic()
                log.info("%s: %.0f MB sent to COPY", self.file, self.bytes / 1e6)
        elif self._last != b"\n":
            self.lines, self._last = self.lines + 1, b"\n"
        return chunk

    def _check_lines(self, chunk: bytes) -> None:
        first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
        if first < 0:
            self._open += len(chunk)
            longest = self._open
        else:
            longest = self._open + first
            if len(chunk) > MAX_LINE_BYTES:  # only then can a line inside the chunk be too long
                longest = max(longest, *map(len, chunk[first + 1:last].split(b"\n")))
            self._open = len(chunk) - last - 1
        if longest > MAX_LINE_BYTES:
            raise LineTooLong(f"{self.file}: a line longer than {MAX_LINE_BYTES} bytes")

    def close(self) -> None:
        getattr(self.chunks, "close", lambda: None)()


def copy_file(cur, new: pgsql.Composable, contract: Contract, file: str,
              open_file: ChunkSource, audit: FileAudit, ignored: set[str]) -> bool:
    """The fast path: `COPY` the whole file into the new partition. False (and nothing written) when
    PostgreSQL refuses it or a record spans lines: then it must be read row by row. Columns the
    contract does not know are copied into text columns named in `ignored`, dropped before the swap."""
    chunks = iter(open_file())
    first = next(chunks, b"")
    if not first:
        audit.note, audit.loaded_by = "empty file", "copy"
        return True
    header = RowReader(contract, [first], file).read_header()  # a ContractError stops the load
    if header is None or b"\n" not in first:
        return False  # blank lines only, or a header longer than a chunk: rare enough for the row reader
    columns = _copy_columns(cur, new, contract, header, ignored)
    known = [c for c in columns if c not in ignored]
    stream = Stream(itertools.chain([first], chunks), file)
    cur.execute(sql.compose("savepoint.sql", name="copy_file"))
    cur.execute(file_defaults_statement(new, file))
    try:
        cur.copy_expert(sql.compose("load/copy_file.sql", new=new, columns=sql.identifiers(columns),
                                    known=sql.identifiers(known)), stream)
    except psycopg2.Error as exc:
        if isinstance(stream.error, LineTooLong):
            why = f"a line longer than {MAX_LINE_BYTES} bytes"
        elif stream.error is not None:  # reading the file failed, not the data
            raise stream.error from exc
        elif isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)):
            why = f"COPY refused it ({str(exc).splitlines()[0]})"
        else:
            raise
        cur.execute(sql.compose("rollback_to_savepoint.sql", name="copy_file"))
        stream.close()
        log.info("%s: %s: reading it row by row", file, why)
        return False
    rows = cur.rowcount  # the rows COPY wrote
    if stream.lines != rows + 1:  # a quoted line break: line numbers must come from the row reader
        cur.execute(sql.compose("rollback_to_savepoint.sql", name="copy_file"))
        log.info("%s: %d rows on %d lines: reading it row by row", file, rows, stream.lines)
        return False
    cur.execute(sql.compose("release_savepoint.sql", name="copy_file"))
    audit.rows_read = audit.lines = stream.lines - 1  # the lines after the header, each one a row (checked above)
    audit.loaded_by = "copy"
    audit.note = note(header, audit.rows_read)
    return True


def _copy_columns(cur, new: pgsql.Composable, contract: Contract, header: Header, ignored: set[str]) -> list[str]:
    """The partition's column for each of the file's columns; the n-th unknown column goes into the text
    column `_ignored_<n>`, added to the partition (and to `ignored`) the first time a file has that many."""
    columns = []
    for index in range(header.width):
        if index in header.positions:
            columns.append(contract.names[header.positions.index(index)])
            continue
        columns.append(f"_ignored_{index - sum(1 for p in header.positions if p is not None and p < index)}")
        if columns[-1] not in ignored:
            cur.execute(sql.compose("load/add_text_column.sql", new=new, column=columns[-1]))
            ignored.add(columns[-1])
    return columns


def read_file(cur, new: pgsql.Composable, contract: Contract, file: str, open_file: ChunkSource,
              audit: FileAudit, rejects: CopyBuffer) -> None:
    """The exact path: every row checked in Python, good ones copied, rejected ones kept with the reason."""
    good = CopyBuffer(cur, new, [*contract.names, "source_file", "source_line"])
    # rejected rows go to the staging table as they are found: none is held for the whole file
    reader = RowReader(contract, open_file(), file, on_reject=lambda r: rejects.add((file, r.line, r.reason, r.raw)))
    last_report = time.monotonic()
    for line, row in reader:
        row.extend((file, line))
        good.add(row)
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            last_report = time.monotonic()
            log.info("%s: %d rows read, %d rejected so far", file, reader.rows_read, reader.rows_rejected)
    good.flush()
    audit.rows_read = reader.rows_read
    audit.lines = max(reader.lines_read - 1, 0)
    audit.rows_rejected = reader.rows_rejected
    audit.loaded_by = "row reader"
    audit.note = note(reader.header, reader.rows_read)


def note(header: Header | None, rows_read: int) -> str:
    """The audit's note on a file: empty, header only, columns ignored or absent."""
    if header is None:
        return "empty file"
    notes = []
    if rows_read == 0:
        notes.append("header only")
    if header.ignored:
        notes.append(f"ignored columns: {', '.join(header.ignored)}")
    if header.absent:
        notes.append(f"absent optional columns: {', '.join(header.absent)}")
    return "; ".join(notes)
