"""`psql \\copy` baselines for the benches: the same files copied into the same server, plain and under
the contract (what the load asks of PostgreSQL, without S3, Airflow and Python)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
from psycopg2 import sql as pgsql

from include.finance import schema, sql
from include.finance.contract import CONTRACTS
from scripts.stack import Stack, log, settings


def fastest_round(stack: Stack, rounds: int, prepare, copy, tables: list[str]) -> float:
    """Seconds of the fastest of `rounds` calls of `copy()`, each after `prepare()` and once no autovacuum worker
    is busy (the freshly loaded days get vacuumed and analyzed in the background, which would slow it down)."""
    fastest = float("inf")
    for _ in range(rounds):
        prepare()
        wait_for_autovacuum(stack)
        started = time.perf_counter()
        copy()
        fastest = min(fastest, time.perf_counter() - started)
        stack.psql("-c", sql.text("schema/drop_table.sql", table=", ".join(tables)))  # DROP TABLE takes a list
    return fastest


def copy_baseline(stack: Stack, files: list[Path], rounds: int = 2) -> float:
    """Seconds `psql \\copy` takes for the files, one after the other, into plain tables of their columns
    (the fastest of `rounds`)."""
    def prepare():
        for kind, contract in CONTRACTS.items():
            stack.psql("-c", sql.text("stack/copy_table.sql", copy=f"copy_{kind}",
                                      table=sql.quoted(settings.db_schema, contract.table)))

    def copy():
        for path in files:
            stack.psql("-c", f"\\copy copy_{path.parent.name} FROM '{path}' CSV HEADER")

    return fastest_round(stack, rounds, prepare, copy, [f"copy_{kind}" for kind in CONTRACTS])


def contract_copy_baseline(stack: Stack, files: list[Path], ds: str, rounds: int = 2) -> float:
    """Seconds `psql \\copy` takes for the files, one after the other, under what the load asks of PostgreSQL:
    per kind, in one transaction, a new table with the contract's CHECK constraints and the load's
    defaults (ds, source_file, source_line numbered by an identity column), every file copied by its
    header's columns, then the primary key and ANALYZE. The load without S3, Airflow and Python; fastest of `rounds`."""
    conn = psycopg2.connect(stack.db_uri(settings.db_name))
    try:
        scripts = {kind: _contract_copy_script(conn, CONTRACTS[kind], [p for p in files if p.parent.name == kind], ds)
                   for kind in sorted({p.parent.name for p in files})}
    finally:
        conn.close()

    def copy():
        for script in scripts.values():
            stack.psql("-v", "ON_ERROR_STOP=1", stdin=script)

    return fastest_round(stack, rounds, lambda: None, copy, [f"copy_contract_{kind}" for kind in scripts])


def _contract_copy_script(conn, contract, files: list[Path], ds: str) -> str:
    """The psql script: the load's statements (`include/finance/loading/load_day.py`), each file by `\\copy` instead of `COPY FROM STDIN`."""
    table = pgsql.Identifier(f"copy_contract_{contract.kind}")
    lines = ["BEGIN;"]
    lines.append(f"{schema.new_partition_statement(contract, pgsql.Identifier(settings.db_schema, contract.table), table, ds).as_string(conn)};")
    for path in files:
        with open(path) as file:
            columns = pgsql.SQL(", ").join(map(pgsql.Identifier, file.readline().strip().split(",")))
        lines.append(f"{schema.file_defaults_statement(table, str(path)).as_string(conn)};")
        lines.append(sql.compose("stack/copy_file.sql", table=table, columns=columns,
                                 path=pgsql.Literal(str(path))).as_string(conn))  # a meta-command: no ";"
    lines.append(f"{sql.compose('stack/add_primary_key.sql', table=table, key=schema.primary_key(contract.key)).as_string(conn)};")
    lines += [f"{schema.analyze_statement(contract, table).as_string(conn)};", "COMMIT;"]
    return "\n".join(lines) + "\n"


def wait_for_autovacuum(stack: Stack, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.psql("-Atc", sql.read("stack/autovacuum_workers.sql")).strip() == "0":
            return
        time.sleep(1)
    log(f"autovacuum still busy after {timeout:.0f} s: measuring the baseline anyway")
