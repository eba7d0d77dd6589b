"""The pipeline's tables and their DDL.

The raw tables (`in_charge`, `in_satisfaction`, named by the contracts: `CONTRACTS[kind].table`) take
their columns from the data contract, so their DDL is generated here, as is each day's partition with
the contract as CHECK constraints. The fixed tables are `include/finance/sql/tables/<name>.sql`.
`create_tables` creates whatever is missing (a table, or a column a later version added: its file's `ALTER TABLE
... ADD COLUMN IF NOT EXISTS`) and changes nothing else: it can run before every load. It also lets the read-only
role (`DB_READER_ROLE`, the dashboard's) read the schema: `grant_reader`.
Every identifier is quoted, the schema (`DB_SCHEMA`) included.
"""

from __future__ import annotations

import logging

import psycopg2
from psycopg2 import sql as pgsql

from include.finance import sql
from include.finance.config import Settings, settings
from include.finance.contract import CONTRACTS, FEATURES, MODEL_KEY, TARGET, Contract, text
from include.finance.sql import quoted

log = logging.getLogger(__name__)

LOAD_AUDIT = "load_audit"
LOAD_REJECTS = "load_rejects"
MODEL_INPUT_AUDIT = "model_input_audit"
MODEL_SATISFACTION = "model_satisfaction"
MODEL_SATISFACTION_STAGING = "model_satisfaction_staging"  # the day's, built and checked, then published
MODEL_METRICS = "model_metrics"
MODEL_MONITORING = "model_monitoring"
CUSTOMER_PREDICTIONS = "customer_predictions"
PREDICTION_SUMMARY = "prediction_summary"
MODEL_DECISIONS = "model_decisions"
# each in sql/tables/<name>.sql
FIXED_TABLES = (LOAD_REJECTS, LOAD_AUDIT, MODEL_INPUT_AUDIT, MODEL_METRICS, MODEL_MONITORING, CUSTOMER_PREDICTIONS,
                PREDICTION_SUMMARY, MODEL_DECISIONS)
# model_satisfaction: a paying customer's survey answers (the satisfaction contract's columns, NULL for a
# customer who gave none), the models' target and the day; what join_charge_satisfaction.sql selects
MODEL_SATISFACTION_COLUMNS = (MODEL_KEY, *FEATURES, TARGET, "ds")


def model_satisfaction_uri(of: Settings = settings) -> str:
    """The dataset (asset) finance_elt emits when it publishes a day of model_satisfaction, which finance_ml is
    scheduled on: Airflow's postgres URI of the real table, where the settings `of` put it (without user@: an astro
    Table URI does not fire on 2.11)."""
    return f"postgres://{of.db_host}:{of.db_port}/{of.db_name}/{of.db_schema}/{MODEL_SATISFACTION}"


def primary_key(key: str) -> pgsql.Composed:
    """A raw table's primary key, also each day's: the contract's key, then the day."""
    return pgsql.SQL("PRIMARY KEY ({}, ds)").format(pgsql.Identifier(key))


def raw_table_statement(contract: Contract, schema: str) -> pgsql.Composed:
    """The contract's table, partitioned by day (`ds`), each row with the file and line it came from."""
    columns = [
        pgsql.SQL("{} {}{}").format(pgsql.Identifier(c.name), pgsql.SQL(c.sql_type),
                                    pgsql.SQL(" NOT NULL" if c.required else ""))
        for c in contract.columns
    ]
    return sql.compose("schema/raw_table.sql", table=(schema, contract.table), columns=pgsql.SQL(", ").join(columns),
                       key=primary_key(contract.key))


def model_satisfaction_statement(schema: str) -> pgsql.Composed:
    """model_satisfaction, every day of it: the survey's columns as the contract types them (nullable)."""
    survey = {c.name: c.sql_type for c in CONTRACTS["satisfaction"].columns}
    columns = [pgsql.SQL("{} text NOT NULL").format(pgsql.Identifier(MODEL_KEY))]
    columns += [pgsql.SQL("{} {}").format(pgsql.Identifier(f), pgsql.SQL(survey[f])) for f in FEATURES]
    columns += [pgsql.SQL("{} double precision NOT NULL").format(pgsql.Identifier(TARGET))]
    return sql.compose("schema/model_satisfaction.sql", table=(schema, MODEL_SATISFACTION),
                       columns=pgsql.SQL(", ").join(columns), key=MODEL_KEY)


def ensure_role(cur, role: str) -> None:
    """The role `role` (no login: a group the dashboard's login is a member of), created where missing."""
    cur.execute(sql.read("schema/role_exists.sql"), (role,))
    if cur.fetchone() is None:
        cur.execute(sql.compose("schema/create_role.sql", role=role))


def ensure_reader_login(cur, login: str, password: str, role: str) -> None:
    """The login `login` (the dashboard's) with `password`, a member of the read-only role `role` and nothing more;
    made where missing (the role too), its password set again where it exists. Needs a superuser's `cur`."""
    ensure_role(cur, role)
    cur.execute(sql.read("schema/role_exists.sql"), (login,))
    verb = "alter" if cur.fetchone() else "create"
    cur.execute(sql.compose(f"schema/{verb}_login.sql", login=login), (password,))
    cur.execute(sql.compose("schema/grant_role.sql", role=role, login=login))


def grant_reader(cur, schema: str, role: str) -> bool:
    """Let `role` SELECT every table of `schema`, and the tables made later (`sql/schema/grant_reader.sql`);
    the role is made where missing. Where the pipeline's user may not make roles, the rest of the transaction
    goes on: a warning says what a database administrator has to run. Returns whether the grants were made."""
    try:
        with sql.savepoint(cur, "grant_reader", undo=(psycopg2.errors.InsufficientPrivilege,)):
            ensure_role(cur, role)
            cur.execute(sql.compose("schema/grant_reader.sql", schema=schema, role=role))
    except psycopg2.errors.InsufficientPrivilege as error:
        log.warning("the read-only role %s cannot read schema %s: %s. The dashboard's login reads nothing until a"
                    " database administrator runs CREATE ROLE %s NOLOGIN (the next finance_elt run grants the rest)",
                    role, schema, str(error).strip(), quoted(role))
        return False
    return True


def create_tables(conn, schema: str, reader: str | None = None) -> None:
    """Create the schema, the raw tables and the fixed tables where they are missing, in one transaction; with
    `reader`, that role may read them all (`grant_reader`)."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("schema/create_schema.sql", schema=schema))
        for contract in CONTRACTS.values():
            cur.execute(raw_table_statement(contract, schema))
        cur.execute(model_satisfaction_statement(schema))
        for name in FIXED_TABLES:
            cur.execute(sql.statement(f"tables/{name}.sql", schema, table=name))
        cur.execute(sql.read("schema/has_ds_column.sql"), {"schema": schema, "table": MODEL_SATISFACTION})
        if not cur.fetchone()[0]:
            raise RuntimeError(
                f"{schema}.{MODEL_SATISFACTION} has no ds column: an earlier version of this project made it and kept "
                f"one day. Drop it (DROP TABLE {quoted(schema, MODEL_SATISFACTION)}; finance_elt rebuilds each day it "
                "loads) or, on the local stack, `make reset`")
        if reader:
            grant_reader(cur, schema, reader)


def partition_name(table: str, ds: str) -> str:
    return f"{table}_{ds.replace('-', '')}"


def contract_checks(contract: Contract) -> list[pgsql.Composable]:
    """The contract's value rules as CHECK constraints of a day's partition (NOT NULL comes with the table).

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
                pgsql.Identifier(f"{column.name}_contract"), pgsql.SQL(rule).format(column=pgsql.Identifier(column.name))))
    return checks


def new_partition_statement(contract: Contract, table: pgsql.Composable, new: pgsql.Composable,
                            ds: str) -> pgsql.Composed:
    """The day's new partition `new` of `table`: the contract as constraints, and the load's defaults
    (`ds`, `source_line` numbered by an identity column). Also what `make bench` asks of `psql \\copy`."""
    return sql.compose("load/new_partition.sql", new=new, table=table, ds=pgsql.Literal(ds),
                       checks=pgsql.SQL(", ").join(contract_checks(contract)))


def file_defaults_statement(new: pgsql.Composable, file: str) -> pgsql.Composable:
    """Before a file's COPY: its rows name the file and are numbered from line 2 (after the header)."""
    return sql.compose("load/file_defaults.sql", new=new, file=pgsql.Literal(file))


def analyze_statement(contract: Contract, relation: pgsql.Composable) -> pgsql.Composable:
    """Statistics for the planner of the transforms: only their columns (autovacuum analyzes every column later)."""
    return sql.compose("load/analyze.sql", relation=relation, columns=sql.identifiers(contract.analyze))


def publish_day(conn, schema: str, staging: str, target: str, columns: tuple[str, ...], ds: str) -> int:
    """Replace the day `ds` of `target` by the rows of `staging` (`columns` by name) in one transaction, and
    drop `staging`: readers see the old day or the new one. A retry after that finds no `staging` and
    changes nothing. Returns the day's rows."""
    with conn, conn.cursor() as cur:
        if not exists(cur, schema, staging):
            cur.execute(sql.compose("schema/day_rows.sql", table=(schema, target)), (ds,))
            rows = cur.fetchone()[0]
            log.info("%s.%s: no %s, day %s published already (%d rows)", schema, target, staging, ds, rows)
            return rows
        cur.execute(sql.compose("schema/publish_day.sql", target=(schema, target), staging=(schema, staging),
                                columns=sql.identifiers(columns)), {"ds": ds})
        rows = cur.rowcount
        cur.execute(sql.compose("schema/drop_table.sql", table=(schema, staging)))
    log.info("%s.%s: day %s replaced by the %d rows of %s", schema, target, ds, rows, staging)
    return rows


def exists(cur, schema: str, table: str) -> bool:
    """Whether `schema`.`table` exists."""
    cur.execute(sql.read("schema/exists.sql"), (quoted(schema, table),))
    return cur.fetchone()[0] is not None


def insert_statement(schema: str, table: str, columns: tuple[str, ...]) -> pgsql.Composed:
    """INSERT of one row of `columns` into `table`, a placeholder per column (for execute and executemany)."""
    return sql.compose("schema/insert_row.sql", table=(schema, table), columns=sql.identifiers(columns),
                       values=pgsql.SQL(", ").join(pgsql.Placeholder() * len(columns)))


def latest_day(conn, schema: str, table: str) -> str | None:
    """The newest `ds` of `table`, or None when it is empty."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.compose("schema/latest_day.sql", table=(schema, table)))
        return cur.fetchone()[0]


def day_partition(cur, schema: str, table: str, ds: str) -> pgsql.Identifier:
    """The partition of `table` (PARTITION BY LIST (ds)) holding day `ds`, created where missing."""
    partition = pgsql.Identifier(schema, partition_name(table, ds))
    cur.execute(sql.compose("schema/day_partition.sql", partition=partition, table=(schema, table), ds=pgsql.Literal(ds)))
    return partition
