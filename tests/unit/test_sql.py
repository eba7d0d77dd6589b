"""The SQL files: every transform the DAGs name exists and uses only the parameters its task passes;
the tables and statements take their tables as quoted, schema-qualified identifiers."""

import re

import pytest
from psycopg2 import sql as pgsql

from include.finance import schema, sql
from include.finance.config import PROJECT_ROOT


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


# A string that starts like a statement (upper-case keywords, as this project writes SQL): what belongs in a file
# of include/finance/sql/. Messages that name a statement in a sentence do not start with it.
STATEMENT = re.compile(
    r"\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|TRUNCATE\s|ANALYZE\s|GRANT\s|REVOKE\s"
    r"|COMMENT\s+ON\s|(CREATE|DROP|ALTER)\s+(TEMP\s+)?(TABLE|DATABASE|ROLE|SCHEMA|INDEX|VIEW)\s"
    r"|SAVEPOINT\s|ROLLBACK\s+TO\s|RELEASE\s+SAVEPOINT\s|\\?COPY\s+\S+.*\s(FROM|TO)\s)", re.S)
SOURCE_FOLDERS = ("include", "dags", "airflow3", "plugins", "dashboard", "scripts")


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string of a module that starts like a statement; docstrings aside, an f-string's
    replacement fields shown as {}."""
    import ast

    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    parts = {id(value) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for value in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings | parts:
            text = node.value
        else:
            continue
        if STATEMENT.match(text):
            found.append((node.lineno, text))
    return found


def test_every_statement_is_a_file_of_the_sql_package():
    """No module outside include/finance/sql/ (the tests aside) holds SQL text: its statements are files there,
    its identifiers composed by psycopg2.sql from the file's text."""
    modules = [path for folder in SOURCE_FOLDERS for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
               if sql.FOLDER not in path.parents]
    assert len(modules) > 50
    found = [f"{path.relative_to(PROJECT_ROOT)}:{line}: {text[:80]!r}"
             for path in modules for line, text in sql_strings(path.read_text())]
    assert found == []


def test_the_sql_finder_sees_a_statement_in_a_string_an_f_string_and_a_concatenation_and_not_in_a_message():
    source = '''"""SELECT every row: a docstring."""
a = "SELECT 1"
b = f"DELETE FROM {table} WHERE ds = %s"
c = ("CREATE TABLE t (x int)"
     " PARTITION BY LIST (x)")
d = f"one day. Drop it (DROP TABLE {table})"
e = "COPY refused it"
'''
    assert [line for line, _ in sql_strings(source)] == [2, 3, 4]
