"""Load a day's input files into Postgres under the data contract, with nothing lost.

Per kind and logical date, in ONE transaction:

1. the day's new partition `<table>_<yyyymmdd>_new` is created with the contract as constraints
   (NOT NULL, value ranges, allowed values);
2. every part file is streamed from object storage straight into it with `COPY` (PostgreSQL parses
   and checks the rows: the fast path). When `COPY` refuses the file (a bad value, a short row, bytes
   that are not UTF-8, ...) or a record spans several lines, that file's rows are rolled back and it
   is read row by row through `contract.RowReader` instead: good rows go in by `COPY`, rejected rows
   (file, line, reason, raw text) into `load_rejects`. Both paths give the same rows for a clean file;
   `load_audit.loaded_by` says which one each file took;
3. a key seen twice keeps its first row (by file name and line) and counts the others as duplicates;
4. the old partition of that day is dropped and the new one attached; the day's rows in
   `load_rejects` and `load_audit` are replaced.

A failure anywhere rolls everything back: the permanent tables hold the previous state, never half a
load. A rerun of the same day replaces exactly that day; a backfill adds days.

`load_audit` accounts for every data row of every file:
rows_read = rows_loaded + rows_rejected + duplicates_dropped.
"""

from __future__ import annotations

import collections
import csv
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import psycopg2
import psycopg2.errors
from psycopg2 import sql as pgsql

from include.finance.contract import CONTRACTS, MAX_LINE_BYTES, Contract, ContractError, Header, RowReader, text
from include.finance.report import text_table

log = logging.getLogger(__name__)

REJECTS_TABLE = "load_rejects"
AUDIT_TABLE = "load_audit"
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


def _id(*parts: str) -> pgsql.Composable:
    return pgsql.Identifier(*parts)


def partition_name(table: str, ds: str) -> str:
    return f"{table}_{ds.replace('-', '')}"


def create_tables(conn, schema: str) -> None:
    """Create the partitioned input tables and the rejects and audit tables if they do not exist."""
    with conn, conn.cursor() as cur:
        cur.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(_id(schema)))
        for contract in CONTRACTS.values():
            _set_aside_unpartitioned(cur, schema, contract.table)
            columns = [
                pgsql.SQL("{} {}{}").format(_id(c.name), pgsql.SQL(c.sql_type), pgsql.SQL(" NOT NULL" if c.required else ""))
                for c in contract.columns
            ]
            cur.execute(
                pgsql.SQL(
                    "CREATE TABLE IF NOT EXISTS {table} (ds date NOT NULL, {columns},"
                    # the key before ds: building a day's index then sorts on the key's text, not first
                    # on a date that is the same in the whole partition (half the time)
                    " source_file text NOT NULL, source_line integer NOT NULL, PRIMARY KEY ({key}, ds))"
                    " PARTITION BY LIST (ds)"
                ).format(table=_id(schema, contract.table), columns=pgsql.SQL(", ").join(columns), key=_id(contract.key))
            )
        cur.execute(
            pgsql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (ds date NOT NULL, kind text NOT NULL, file text NOT NULL,"
                " line integer NOT NULL, reason text NOT NULL, raw_line text NOT NULL, run_id text NOT NULL,"
                " loaded_at timestamptz NOT NULL DEFAULT now())"
            ).format(_id(schema, REJECTS_TABLE))
        )
        cur.execute(
            pgsql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (ds date NOT NULL, kind text NOT NULL, file text NOT NULL,"
                " rows_read bigint NOT NULL, rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL,"
                " duplicates_dropped bigint NOT NULL, note text NOT NULL, loaded_by text NOT NULL, run_id text NOT NULL,"
                " loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (ds, kind, file),"
                " CHECK (rows_read = rows_loaded + rows_rejected + duplicates_dropped))"
            ).format(_id(schema, AUDIT_TABLE))
        )
        cur.execute(pgsql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS loaded_by text NOT NULL DEFAULT ''").format(
            _id(schema, AUDIT_TABLE)))  # an audit table from before the COPY path


def _set_aside_unpartitioned(cur, schema: str, table: str) -> None:
    """A table of the same name from before the contract (one load, types inferred) is renamed, not dropped."""
    cur.execute("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s", (schema, table))
    row = cur.fetchone()
    if row and row[0] != "p":
        backup = f"{table}_before_contract"
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(_id(schema, backup)))
        cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(_id(schema, table), _id(backup)))
        log.warning("%s.%s was not partitioned by day (made before the data contract): renamed to %s",
                    schema, table, backup)


def check_headers(contract: Contract, first_bytes: dict[str, bytes]) -> list[str]:
    """The contract errors of the files' headers (file -> its first bytes); empty when all can load."""
    errors = []
    for file, head in sorted(first_bytes.items()):
        try:
            RowReader(contract, [head], file).read_header()
        except ContractError as exc:
            errors.append(str(exc))
    return errors


class _CopyBuffer:
    """Rows as CSV text, sent to Postgres with COPY whenever the buffer is full (memory stays flat)."""

    def __init__(self, cur, table: pgsql.Composable, columns: Sequence[str]):
        self.cur = cur
        self.statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            table, pgsql.SQL(", ").join(map(_id, columns))
        )
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


class _LineTooLong(Exception):
    """A line longer than MAX_LINE_BYTES: the row reader rejects it, COPY must not load it."""


class _Stream:
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
            raise _LineTooLong(f"{self.file}: a line longer than {MAX_LINE_BYTES} bytes")

    def close(self) -> None:
        getattr(self.chunks, "close", lambda: None)()


def contract_checks(contract: Contract) -> list[pgsql.Composable]:
    """The contract's value rules as CHECK constraints of the new partition (NOT NULL comes with the table).

    A required text only has to be more than spaces; the check here is stricter and cheaper (it must not
    start with a space or a control character): a file with such a value goes to the row reader, which
    loads it unless the value is spaces only.
    """
    checks = []
    for column in contract.columns:
        rule = column.check.sql_check
        if rule is None and column.required and column.check is text:
            rule = "ascii({column}) > 32"
        if rule:
            checks.append(pgsql.SQL("CONSTRAINT {} CHECK ({})").format(
                _id(f"{column.name}_contract"), pgsql.SQL(rule).format(column=_id(column.name))))
    return checks


def new_partition_statements(contract: Contract, table: pgsql.Composable, new: pgsql.Composable,
                             ds: str) -> list[pgsql.Composable]:
    """The day's new partition `new` of `table`: the contract as constraints, and the load's defaults
    (`ds`, `source_line` numbered by an identity column). Also what `make bench` asks of `psql \\copy`."""
    return [
        pgsql.SQL("CREATE TABLE {} (LIKE {}, CHECK (ds = DATE {}), {})").format(
            new, table, pgsql.Literal(ds), pgsql.SQL(", ").join(contract_checks(contract))),
        pgsql.SQL("ALTER TABLE {} ALTER COLUMN ds SET DEFAULT {},"
                  " ALTER COLUMN source_line ADD GENERATED BY DEFAULT AS IDENTITY").format(new, pgsql.Literal(ds)),
    ]


def file_defaults_statement(new: pgsql.Composable, file: str) -> pgsql.Composable:
    """Before a file's COPY: its rows name the file and are numbered from line 2 (after the header)."""
    return pgsql.SQL("ALTER TABLE {} ALTER COLUMN source_file SET DEFAULT {},"
                     " ALTER COLUMN source_line RESTART WITH 2").format(new, pgsql.Literal(file))


def analyze_statement(contract: Contract, relation: pgsql.Composable) -> pgsql.Composable:
    """Statistics for the planner of the transforms: only their columns (autovacuum analyzes every column later)."""
    return pgsql.SQL("ANALYZE {} ({})").format(relation, pgsql.SQL(", ").join(map(_id, contract.analyze)))


def _copy_file(cur, new: pgsql.Composable, contract: Contract, file: str,
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
    columns = []
    for index in range(header.width):
        if index in header.positions:
            columns.append(contract.names[header.positions.index(index)])
        else:  # the n-th unknown column: as many as the widest file has, at most what the header check allows
            columns.append(f"_ignored_{index - sum(1 for p in header.positions if p is not None and p < index)}")
            if columns[-1] not in ignored:
                cur.execute(pgsql.SQL("ALTER TABLE {} ADD COLUMN {} text").format(new, _id(columns[-1])))
                ignored.add(columns[-1])
    known = [c for c in columns if c not in ignored]
    stream = _Stream(itertools.chain([first], chunks), file)
    cur.execute("SAVEPOINT copy_file")
    cur.execute(file_defaults_statement(new, file))
    try:
        cur.copy_expert(
            pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, FORCE_NULL ({}))").format(
                new, pgsql.SQL(", ").join(map(_id, columns)), pgsql.SQL(", ").join(map(_id, known))),
            stream,
        )
    except psycopg2.Error as exc:
        if isinstance(stream.error, _LineTooLong):
            cur.execute("ROLLBACK TO SAVEPOINT copy_file")
            stream.close()
            log.info("%s: a line longer than %d bytes: reading it row by row", file, MAX_LINE_BYTES)
            return False
        if stream.error is not None:  # reading the file failed, not the data
            raise stream.error from exc
        if not isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)):
            raise
        cur.execute("ROLLBACK TO SAVEPOINT copy_file")
        stream.close()
        log.info("%s: COPY refused it (%s): reading it row by row", file, str(exc).splitlines()[0])
        return False
    rows = cur.rowcount  # the rows COPY wrote
    if stream.lines != rows + 1:  # a quoted line break: line numbers must come from the row reader
        cur.execute("ROLLBACK TO SAVEPOINT copy_file")
        log.info("%s: %d rows on %d lines: reading it row by row", file, rows, stream.lines)
        return False
    cur.execute("RELEASE SAVEPOINT copy_file")
    audit.rows_read = audit.lines = stream.lines - 1  # the lines after the header, each one a row (checked above)
    audit.loaded_by = "copy"
    audit.note = _note(header, audit.rows_read)
    return True


def _read_file(cur, new: pgsql.Composable, contract: Contract, file: str, open_file: ChunkSource,
               audit: FileAudit, bad: _CopyBuffer) -> None:
    """The exact path: every row checked in Python, good ones copied, rejected ones kept with the reason."""
    good = _CopyBuffer(cur, new, [*contract.names, "source_file", "source_line"])
    # rejected rows go to the staging table as they are found: none is held for the whole file
    reader = RowReader(contract, open_file(), file, on_reject=lambda r: bad.add((file, r.line, r.reason, r.raw)))
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
    audit.note = _note(reader.header, reader.rows_read)


def load_day(conn, contract: Contract, files: dict[str, ChunkSource], ds: str, run_id: str, schema: str,
             expected_lines: dict[str, int] | None = None, ignored_files: dict[str, str] | None = None) -> list[FileAudit]:
    """Load one kind's files of one logical date (file name -> opener) and return the audit per file.

    `expected_lines` (file -> lines after the header, from the day's manifest): a file with other lines
    raises ContractError naming it, and nothing is loaded. `ignored_files` (file -> why): files not loaded,
    listed in the audit with the reason.
    """
    table = _id(schema, contract.table)
    partition = partition_name(contract.table, ds)
    new = _id(schema, f"{partition}_new")
    audits = []
    started = time.monotonic()
    with conn, conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(new))
        for statement in new_partition_statements(contract, table, new, ds):
            cur.execute(statement)
        cur.execute(
            "CREATE TEMP TABLE stage_rejects (file text, line integer, reason text, raw_line text) ON COMMIT DROP"
        )
        bad = _CopyBuffer(cur, _id("stage_rejects"), ["file", "line", "reason", "raw_line"])
        ignored: set[str] = set()
        for file, open_file in sorted(files.items()):
            audit = FileAudit(ds=ds, kind=contract.kind, file=file, run_id=run_id)
            file_started = time.monotonic()
            if not _copy_file(cur, new, contract, file, open_file, audit, ignored):
                _read_file(cur, new, contract, file, open_file, audit, bad)
            if expected_lines is not None and audit.lines != expected_lines[file]:
                raise ContractError(f"{file}: {audit.lines} lines after the header, but its manifest lists "
                                    f"{expected_lines[file]}: not the file that was uploaded; nothing was loaded")
            audits.append(audit)
            log.info("%s: %d rows read, %d rejected, by %s in %.1f s%s", file, audit.rows_read, audit.rows_rejected,
                     audit.loaded_by or "-", time.monotonic() - file_started, f" ({audit.note})" if audit.note else "")
        bad.flush()
        for file, why in sorted((ignored_files or {}).items()):
            log.warning("%s: %s", file, why)
            audits.append(FileAudit(ds=ds, kind=contract.kind, file=file, note=why, loaded_by="ignored", run_id=run_id))

        # one row per key, the first by file and line: checked by the primary key, fixed only if it fails
        key_started = time.monotonic()
        duplicates = _drop_duplicates(cur, new, _key_columns(cur, table), contract.key, f"{partition}_new_pkey")
        key_seconds = time.monotonic() - key_started
        # what landed, counted in the partition: the audit's CHECK (read = loaded + rejected + duplicates) is a real check
        cur.execute(pgsql.SQL("SELECT source_file, count(*) FROM {} GROUP BY source_file").format(new))
        landed = dict(cur.fetchall())
        for audit in audits:
            audit.duplicates_dropped = duplicates.get(audit.file, 0)
            audit.rows_loaded = landed.get(audit.file, 0)
        for column in ignored:
            cur.execute(pgsql.SQL("ALTER TABLE {} DROP COLUMN {}").format(new, _id(column)))
        cur.execute(pgsql.SQL("ALTER TABLE {} ALTER COLUMN ds DROP DEFAULT, ALTER COLUMN source_file DROP DEFAULT,"
                              " ALTER COLUMN source_line DROP IDENTITY").format(new))

        # swap: readers see the old day or the new day, never a mix
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(_id(schema, partition)))
        cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(new, _id(partition)))
        cur.execute(pgsql.SQL("ALTER INDEX {} RENAME TO {}").format(
            _id(schema, f"{partition}_new_pkey"), _id(f"{partition}_pkey")))
        cur.execute(
            pgsql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN (%s)").format(table, _id(schema, partition)),
            (ds,),
        )
        analyze_started = time.monotonic()
        cur.execute(analyze_statement(contract, _id(schema, partition)))
        log.info("%s: primary key in %.1f s (%d duplicates dropped), ANALYZE in %.1f s", partition, key_seconds,
                 sum(duplicates.values()), time.monotonic() - analyze_started)
        for name in (REJECTS_TABLE, AUDIT_TABLE):
            cur.execute(pgsql.SQL("DELETE FROM {} WHERE ds = %s AND kind = %s").format(_id(schema, name)),
                        (ds, contract.kind))
        cur.execute(
            pgsql.SQL(
                "INSERT INTO {} (ds, kind, file, line, reason, raw_line, run_id)"
                " SELECT %s, %s, file, line, reason, raw_line, %s FROM stage_rejects"
            ).format(_id(schema, REJECTS_TABLE)),
            (ds, contract.kind, run_id),
        )
        for audit in audits:
            row = asdict(audit)
            del row["lines"]
            cur.execute(
                pgsql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    _id(schema, AUDIT_TABLE),
                    pgsql.SQL(", ").join(map(_id, row)),
                    pgsql.SQL(", ").join(pgsql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )
    total = {k: sum(getattr(a, k) for a in audits) for k in ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped")}
    log.info("%s dt=%s: %d files, %s, in %.1f s\n%s", contract.table, ds, len(audits),
             ", ".join(f"{k} {v}" for k, v in total.items()), time.monotonic() - started,
             text_table([asdict(a) for a in audits], {"file": "", **{k: "d" for k in total}, "loaded_by": ""}))
    return audits


def _key_columns(cur, table: pgsql.Composable) -> list[str]:
    """The columns of `table`'s primary key in their order, which a partition's key must have to be attached
    (tables made before the key came first have (ds, key))."""
    cur.execute("SELECT a.attname FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)"
                " JOIN pg_attribute a ON a.attrelid = %(t)s::regclass AND a.attnum = k.attnum"
                " WHERE i.indrelid = %(t)s::regclass AND i.indisprimary ORDER BY k.n", {"t": table.as_string(cur)})
    return [name for (name,) in cur.fetchall()]


def _drop_duplicates(cur, new: pgsql.Composable, columns: list[str], key: str, index: str) -> dict[str, int]:
    """Give `new` its primary key (`columns`: ds and key); where a key occurs more than once, keep its
    first row by file and line and delete the others first. Returns the rows deleted per file."""
    add_key = pgsql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        new, _id(index), pgsql.SQL(", ").join(map(_id, columns)))
    cur.execute("SAVEPOINT primary_key")
    try:
        cur.execute(add_key)
        cur.execute("RELEASE SAVEPOINT primary_key")
        return {}
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT primary_key")
    cur.execute(
        pgsql.SQL(
            "DELETE FROM {new} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER"
            " (PARTITION BY {key} ORDER BY source_file, source_line) AS n FROM {new}"
            " WHERE {key} IN (SELECT {key} FROM {new} GROUP BY {key} HAVING count(*) > 1)) d WHERE n > 1)"
            " RETURNING source_file"
        ).format(new=new, key=_id(key))
    )
    deleted = collections.Counter(file for (file,) in cur.fetchall())
    cur.execute(add_key)
    return dict(deleted)


def _note(header: Header | None, rows_read: int) -> str:
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


def swap_table(conn, schema: str, staging: str, target: str) -> None:
    """Replace `target` by `staging` in one transaction: readers see the old or the new table."""
    with conn, conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(_id(schema, target)))
        cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(_id(schema, staging), _id(target)))
    log.info("%s.%s replaced by %s", schema, target, staging)
