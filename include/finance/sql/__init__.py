"""The pipeline's SQL: every statement it runs is a file in this folder, read by the functions below.

- `*.sql`: the transforms, run by `aql.transform_file` (finance_elt, finance_ml). `{{ name }}` is filled
  in by the Astro SDK from the task's `parameters`: `schema.table` for a Table (unquoted: hence the
  plain lower-case names config.py allows for DB_SCHEMA), a bind parameter (never pasted text) for
  anything else, such as `day`, the run's logical date. The Airflow 3 edition runs the same files
  through `transform`, which fills them in the same way for the common-sql provider's operators.
- `tables/<table>.sql`: the fixed tables, created where missing by `schema.create_tables`.
- `schema/`, `load/`, `gates/`, `ml/`: what the tasks run through psycopg2 (or, in `gates/`, through a
  provider's hook), by the part of the pipeline that runs them; `dashboard/`: the dashboard's queries;
  `stack/`: the local stack's and the benchmarks' (scripts/).

A file holds one step: one statement, or the few a step always runs together (psycopg2 sends them in
one call). `{name}` is an identifier or a fragment composed with psycopg2.sql (`compose`, `statement`),
or text an operator takes (`text`); `%(name)s` or `%s` is a value bound by psycopg2 (in a statement run
with values, a `%` of the SQL itself is written `%%`). tests/unit/test_sql.py fails on SQL text in a
Python module outside this package.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from psycopg2 import sql as pgsql

FOLDER = Path(__file__).resolve().parent


def read(path: str) -> str:
    """The text of `path` (relative to FOLDER)."""
    return (FOLDER / path).read_text()


def compose(path: str, /, **parts: pgsql.Composable | str | tuple[str, ...]) -> pgsql.Composed:
    """The statement in `path` with each `{name}` filled in by `parts[name]`: a psycopg2.sql Composable as it
    is (a literal, a list of columns), a str as a quoted name, a tuple as a quoted, qualified name."""
    def part(value):
        if isinstance(value, pgsql.Composable):
            return value
        return pgsql.Identifier(*value) if isinstance(value, tuple) else pgsql.Identifier(value)

    return pgsql.SQL(read(path)).format(**{name: part(value) for name, value in parts.items()})


def statement(path: str, schema: str, /, **tables: str) -> pgsql.Composed:
    """The statement in `path` with each `{name}` filled in by `"schema"."tables[name]"`."""
    return compose(path, **{name: (schema, table) for name, table in tables.items()})


def identifiers(names) -> pgsql.Composed:
    """`"a", "b"`: quoted names separated by commas (a column list)."""
    return pgsql.SQL(", ").join(map(pgsql.Identifier, names))


def quoted(*parts: str) -> str:
    """A quoted, qualified name as text, for operators that take SQL text (the check operators)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def text(path: str, /, **parts: str) -> str:
    """The statement in `path` as text, each `{name}` replaced by `parts[name]` as it is (quote names with
    `quoted`): for hooks and operators that take SQL text, never for values."""
    return read(path).format(**parts).strip()


@contextlib.contextmanager
def savepoint(cur, name: str, undo: tuple[type[BaseException], ...] = ()):
    """The statements of the block inside savepoint `name`: released after them; on one of `undo`, rolled
    back to it (the transaction goes on) and the error raised again for the caller to handle."""
    cur.execute(compose("savepoint.sql", name=name))
    try:
        yield
    except undo:
        cur.execute(compose("rollback_to_savepoint.sql", name=name))
        raise
    cur.execute(compose("release_savepoint.sql", name=name))


_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def transform(path: str, schema: str, tables: dict[str, str]) -> str:
    """The transform in `path` (relative to FOLDER) as psycopg2 runs it: each `{{ name }}` of `tables` is
    that table's quoted `"schema"."table"`, any other `{{ name }}` the bind parameter `%(name)s` (the
    task gives its value); the `{# ... #}` comments are left out. `%` in the SQL itself must be written `%%`."""
    def fill(match: re.Match) -> str:
        name = match.group(1)
        return quoted(schema, tables[name]) if name in tables else f"%({name})s"

    return _PLACEHOLDER.sub(fill, _COMMENT.sub("", read(path))).strip()
