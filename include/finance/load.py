"""Load a day's input files into Postgres under the data contract, with nothing lost.

Per kind and logical date, in ONE transaction:

1. every part file is streamed from object storage through `contract.RowReader`; good rows go by
   `COPY` into a temporary staging table, rejected rows (with file, line, reason, raw text) into a
   temporary rejects table;
2. the day's partition is built from the staging table, one row per key (the first by file name and
   line: a charge id seen twice counts once);
3. the old partition of that day is dropped and the new one attached; the day's rows in
   `load_rejects` and `load_audit` are replaced.

A failure anywhere rolls everything back: the permanent tables hold the previous state, never half a
load. A rerun of the same day replaces exactly that day; a backfill adds days.

`load_audit` accounts for every data row of every file:
rows_read = rows_loaded + rows_rejected + duplicates_dropped.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from psycopg2 import sql as pgsql

from include.finance.contract import CONTRACTS, Contract, ContractError, RowReader
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
    run_id: str = ""


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
                    " source_file text NOT NULL, source_line integer NOT NULL, PRIMARY KEY (ds, {key}))"
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
                " duplicates_dropped bigint NOT NULL, note text NOT NULL, run_id text NOT NULL,"
                " loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (ds, kind, file),"
                " CHECK (rows_read = rows_loaded + rows_rejected + duplicates_dropped))"
            ).format(_id(schema, AUDIT_TABLE))
        )


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


def load_day(conn, contract: Contract, files: dict[str, ChunkSource], ds: str, run_id: str, schema: str) -> list[FileAudit]:
    """Load one kind's files of one logical date (file name -> opener) and return the audit per file."""
    table = _id(schema, contract.table)
    partition = partition_name(contract.table, ds)
    columns = contract.names
    audits = []
    started = time.monotonic()
    with conn, conn.cursor() as cur:
        cur.execute(
            pgsql.SQL("CREATE TEMP TABLE stage (LIKE {}) ON COMMIT DROP").format(table)
        )
        cur.execute("ALTER TABLE stage ALTER COLUMN ds SET DEFAULT %s", (ds,))
        cur.execute(
            "CREATE TEMP TABLE stage_rejects (file text, line integer, reason text, raw_line text) ON COMMIT DROP"
        )
        good = _CopyBuffer(cur, _id("stage"), [*columns, "source_file", "source_line"])
        bad = _CopyBuffer(cur, _id("stage_rejects"), ["file", "line", "reason", "raw_line"])
        for file, open_file in sorted(files.items()):
            audit = FileAudit(ds=ds, kind=contract.kind, file=file, run_id=run_id)
            reader = RowReader(contract, open_file(), file)
            last_report = time.monotonic()
            for line, row in reader:
                row.extend((file, line))
                good.add(row)
                if time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    log.info("%s: %d rows read, %d rejected so far", file, reader.rows_read, len(reader.rejects))
            for reject in reader.rejects:
                bad.add((file, reject.line, reject.reason, reject.raw))
            audit.rows_read = reader.rows_read
            audit.rows_rejected = len(reader.rejects)
            audit.note = _note(reader)
            audits.append(audit)
            log.info("%s: %d rows read, %d rejected%s", file, audit.rows_read, audit.rows_rejected,
                     f" ({audit.note})" if audit.note else "")
        good.flush()
        bad.flush()

        # the day's new partition: one row per key, the first occurrence by file and line
        new = _id(schema, f"{partition}_new")
        names = pgsql.SQL(", ").join(map(_id, ["ds", *columns, "source_file", "source_line"]))
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(new))
        cur.execute(pgsql.SQL("CREATE TABLE {} (LIKE {}, CHECK (ds = DATE %s))").format(new, table), (ds,))
        cur.execute(
            pgsql.SQL(
                "INSERT INTO {new} ({names}) SELECT DISTINCT ON ({key}) {names} FROM stage"
                " ORDER BY {key}, source_file, source_line"
            ).format(new=new, names=names, key=_id(contract.key))
        )
        cur.execute(pgsql.SQL("SELECT source_file, count(*) FROM {} GROUP BY source_file").format(new))
        loaded = dict(cur.fetchall())
        for audit in audits:
            audit.rows_loaded = loaded.get(audit.file, 0)
            audit.duplicates_dropped = audit.rows_read - audit.rows_rejected - audit.rows_loaded

        # swap: readers see the old day or the new day, never a mix
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(_id(schema, partition)))
        cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(new, _id(partition)))
        cur.execute(
            pgsql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN (%s)").format(table, _id(schema, partition)),
            (ds,),
        )
        cur.execute(pgsql.SQL("ANALYZE {}").format(_id(schema, partition)))
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
             text_table([asdict(a) for a in audits], {"file": "", **{k: "d" for k in total}}))
    return audits


def _note(reader: RowReader) -> str:
    if reader.header is None:
        return "empty file"
    notes = []
    if reader.rows_read == 0:
        notes.append("header only")
    if reader.header.ignored:
        notes.append(f"ignored columns: {', '.join(reader.header.ignored)}")
    if reader.header.absent:
        notes.append(f"absent optional columns: {', '.join(reader.header.absent)}")
    return "; ".join(notes)


def swap_table(conn, schema: str, staging: str, target: str) -> None:
    """Replace `target` by `staging` in one transaction: readers see the old or the new table."""
    with conn, conn.cursor() as cur:
        cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(_id(schema, target)))
        cur.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(_id(schema, staging), _id(target)))
    log.info("%s.%s replaced by %s", schema, target, staging)
