"""The SQL files: every transform the DAGs name exists and uses only the parameters its task passes;
the tables and statements take their tables as quoted, schema-qualified identifiers."""

import re
from pathlib import Path

import pytest
from psycopg2 import sql as pgsql

from include.finance import schema, sql

ROOT = Path(__file__).resolve().parents[2]


def placeholders(name: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", (sql.FOLDER / name).read_text()))


def test_finance_elts_transforms_are_files_and_get_every_parameter_they_use():
    from tests.editions import AIRFLOW_3, DAGS_FOLDER, dagbag

    elt = dagbag(DAGS_FOLDER / "finance_elt.py").dags["finance_elt"]
    for task_id in ("select_successful_charges", "avg_successful_per_customer", "join_charge_satisfaction"):
        task, file = elt.get_task(task_id), f"{task_id}.sql"
        if AIRFLOW_3:  # the same file, filled in by sql.transform: tables quoted, values bound
            from include.finance.contract import CONTRACTS
            from include.finance.operators_airflow3 import TEMPORARY_TABLES

            drop, create = task.sql
            target = create.split()[2]
            assert drop == f"DROP TABLE IF EXISTS {target}" and create.startswith(f"CREATE TABLE {target} AS\n")
            bound = {name for name in placeholders(file) if f"%({name})s" in create}
            assert bound == set(task.parameters), task_id
            read = set(re.findall(r'"public"\."(\w+)"', create.split(" AS\n", 1)[1]))
            assert len(read) == len(placeholders(file) - bound)  # each other placeholder is a table
            assert read <= {c.table for c in CONTRACTS.values()} | set(TEMPORARY_TABLES), read
            assert "{{" not in create and not task.autocommit  # DROP and CREATE in one transaction
        else:
            assert task.sql == (sql.FOLDER / file).read_text()  # read from the file when the DAG is parsed
            assert placeholders(file) == set(task.parameters), task_id


@pytest.mark.parametrize("table", schema.FIXED_TABLES)
def test_each_fixed_table_is_created_under_its_quoted_qualified_name(table):
    statement = sql.statement(f"tables/{table}.sql", "my schema", table=table)
    assert isinstance(statement, pgsql.Composed)
    assert pgsql.Identifier("my schema", table) in statement.seq
    assert statement.seq[0].string.lstrip().split("\n")[-1] == "CREATE TABLE IF NOT EXISTS "


def test_the_model_input_audit_reads_and_writes_the_schemas_tables():
    statement = sql.statement("gates/audit_model_input.sql", "s", model_input_audit="model_input_audit",
                              in_charge="in_charge", in_satisfaction="in_satisfaction")
    identifiers = [part for part in statement.seq if isinstance(part, pgsql.Identifier)]
    assert {i.strings for i in identifiers} == {("s", "model_input_audit"), ("s", "in_charge"), ("s", "in_satisfaction")}
    with pytest.raises(KeyError):  # a table the statement names must be given
        sql.statement("gates/audit_model_input.sql", "s", model_input_audit="model_input_audit")
