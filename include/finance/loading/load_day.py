"""Load a day's input files into Postgres under the data contract, with nothing lost.

Per kind and logical date, in ONE transaction:

1. the day's new partition `<table>_<yyyymmdd>_new` is created with the contract as constraints
   (NOT NULL, value ranges, allowed values; `schema.new_partition_statement`);
2. every part file goes into it by `COPY`, or row by row when `COPY` refuses it
   (`include/finance/loading/load_file.py`); rejected rows are kept for `load_rejects`;
3. a key seen twice keeps its first row (by file name and line) and counts the others as duplicates;
4. the old partition of that day is dropped and the new one attached; the day's rows in
   `load_rejects` and `load_audit` are replaced.

A failure anywhere rolls everything back: the permanent tables hold the previous state, never half a
load. A rerun of the same day replaces exactly that day; a backfill adds days. The tables must exist
(`schema.create_tables`).

`load_audit` accounts for every data row of every file:
rows_read = rows_loaded + rows_rejected + duplicates_dropped.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import asdict

import psycopg2.errors
from psycopg2 import sql as pgsql

from include.finance import sql
from include.finance.contract import Contract, ContractError
from include.finance.loading import load_file
from include.finance.loading.load_file import ChunkSource, CopyBuffer, FileAudit
from include.finance.loading.reader import RowReader
from include.finance.report import text_table
from include.finance.schema import (LOAD_AUDIT, LOAD_REJECTS, analyze_statement, insert_statement,
                                    new_partition_statement, partition_name, primary_key)

log = logging.getLogger(__name__)

_id = pgsql.Identifier


def check_headers(contract: Contract, first_bytes: dict[str, bytes]) -> list[str]:
    """The contract errors of the files' headers (file -> its first bytes); empty when all can load."""
    errors = []
    for file, head in sorted(first_bytes.items()):
        try:
            RowReader(contract, [head], file).read_header()
        except ContractError as exc:
            errors.append(str(exc))
    return errors


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
    started = time.monotonic()
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("schema/drop_table.sql", table=new))
        cur.execute(new_partition_statement(contract, table, new, ds))
        cur.execute(sql.read("load/stage_rejects.sql"))
        audits, ignored = _load_files(cur, new, contract, files, ds, run_id, expected_lines)
        for file, why in sorted((ignored_files or {}).items()):
            log.warning("%s: %s", file, why)
            audits.append(FileAudit(ds=ds, kind=contract.kind, file=file, note=why, loaded_by="ignored", run_id=run_id))

        # one row per key, the first by file and line: checked by the primary key, fixed only if it fails
        key_started = time.monotonic()
        duplicates = drop_duplicates(cur, new, contract.key, f"{partition}_new_pkey")
        key_seconds = time.monotonic() - key_started
        # what landed, counted in the partition: the audit's CHECK (read = loaded + rejected + duplicates) is a real check
        cur.execute(sql.compose("load/rows_per_file.sql", new=new))
        landed = dict(cur.fetchall())
        for audit in audits:
            audit.duplicates_dropped = duplicates.get(audit.file, 0)
            audit.rows_loaded = landed.get(audit.file, 0)
        for column in ignored:
            cur.execute(sql.compose("load/drop_column.sql", new=new, column=column))
        cur.execute(sql.compose("load/drop_load_defaults.sql", new=new))
        # swap: readers see the old day or the new day, never a mix
        cur.execute(sql.compose("load/swap_partition.sql", old=(schema, partition), new=new, name=partition, table=table,
                                new_key=(schema, f"{partition}_new_pkey"), key_name=f"{partition}_pkey"), {"ds": ds})
        analyze_started = time.monotonic()
        cur.execute(analyze_statement(contract, _id(schema, partition)))
        log.info("%s: primary key in %.1f s (%d duplicates dropped), ANALYZE in %.1f s", partition, key_seconds,
                 sum(duplicates.values()), time.monotonic() - analyze_started)
        _replace_audit(cur, schema, contract.kind, ds, run_id, audits)
    total = {k: sum(getattr(a, k) for a in audits) for k in ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped")}
    log.info("%s dt=%s: %d files, %s, in %.1f s\n%s", contract.table, ds, len(audits),
             ", ".join(f"{k} {v}" for k, v in total.items()), time.monotonic() - started,
             text_table([asdict(a) for a in audits], {"file": "", **{k: "d" for k in total}, "loaded_by": ""}))
    return audits


def _load_files(cur, new: pgsql.Composable, contract: Contract, files: dict[str, ChunkSource], ds: str, run_id: str,
                expected_lines: dict[str, int] | None) -> tuple[list[FileAudit], set[str]]:
    """Every file into the new partition, by COPY or row by row; their audits and the partition's columns
    for unknown file columns. Rejected rows go to the temporary table stage_rejects."""
    rejects = CopyBuffer(cur, _id("stage_rejects"), ["file", "line", "reason", "raw_line"])
    audits, ignored = [], set()
    for file, open_file in sorted(files.items()):
        audit = FileAudit(ds=ds, kind=contract.kind, file=file, run_id=run_id)
        file_started = time.monotonic()
        if not load_file.copy_file(cur, new, contract, file, open_file, audit, ignored):
            load_file.read_file(cur, new, contract, file, open_file, audit, rejects)
        if expected_lines is not None and audit.lines != expected_lines[file]:
            raise ContractError(f"{file}: {audit.lines} lines after the header, but its manifest lists "
                                f"{expected_lines[file]}: not the file that was uploaded; nothing was loaded")
        audits.append(audit)
        log.info("%s: %d rows read, %d rejected, by %s in %.1f s%s", file, audit.rows_read, audit.rows_rejected,
                 audit.loaded_by or "-", time.monotonic() - file_started, f" ({audit.note})" if audit.note else "")
    rejects.flush()
    return audits, ignored


def drop_duplicates(cur, new: pgsql.Composable, key: str, index: str) -> dict[str, int]:
    """Give `new` its primary key (key, ds); where a key occurs more than once, keep its first row by file
    and line and delete the others first. Returns the rows deleted per file."""
    add_key = sql.compose("load/add_primary_key.sql", new=new, index=index, key=primary_key(key))
    try:
        with sql.savepoint(cur, "primary_key", undo=(psycopg2.errors.UniqueViolation,)):
            cur.execute(add_key)
        return {}
    except psycopg2.errors.UniqueViolation:
        pass
    cur.execute(sql.compose("load/drop_duplicates.sql", new=new, key=key))
    deleted = collections.Counter(file for (file,) in cur.fetchall())
    cur.execute(add_key)
    return dict(deleted)


def _replace_audit(cur, schema: str, kind: str, ds: str, run_id: str, audits: list[FileAudit]) -> None:
    """The day's rows of `kind` in load_rejects (from stage_rejects) and load_audit, replaced."""
    for name in (LOAD_REJECTS, LOAD_AUDIT):
        cur.execute(sql.compose("load/clear_day_of_kind.sql", table=(schema, name)), (ds, kind))
    cur.execute(sql.compose("load/keep_rejects.sql", load_rejects=(schema, LOAD_REJECTS)), (ds, kind, run_id))
    for audit in audits:
        row = asdict(audit)
        del row["lines"]
        cur.execute(insert_statement(schema, LOAD_AUDIT, tuple(row)), list(row.values()))
