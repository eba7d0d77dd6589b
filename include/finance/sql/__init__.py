"""The pipeline's SQL, one statement per file in this folder:

- `*.sql`: the transforms, run by `aql.transform_file` (finance_elt, finance_ml). `{{ name }}` is filled
  in by the Astro SDK from the task's `parameters`: `schema.table` for a Table (unquoted: hence the
  plain lower-case names config.py allows for DB_SCHEMA), a bind parameter (never pasted text) for
  anything else, such as `day`, the run's logical date. The Airflow 3 edition runs the same files
  through `transform`, which fills them in the same way for the common-sql provider's operators.
- `tables/<table>.sql`: the fixed tables, created where missing by `schema.create_tables`.
- `statements/*.sql`: statements the tasks run through psycopg2.

In `tables/` and `statements/`, `{name}` is a table, filled in by `statement` with its schema-qualified,
quoted name, and `%(name)s` a value bound by psycopg2.
"""

from __future__ import annotations

import re
from pathlib import Path

from psycopg2 import sql as pgsql

FOLDER = Path(__file__).resolve().parent


def statement(path: str, schema: str, **tables: str) -> pgsql.Composed:
    """The statement in `path` (relative to FOLDER) with each `{name}` filled in by `"schema"."tables[name]"`."""
    text = (FOLDER / path).read_text()
    return pgsql.SQL(text).format(**{name: pgsql.Identifier(schema, table) for name, table in tables.items()})


def names(path: str, **identifiers: str) -> pgsql.Composed:
    """The statement in `path` (relative to FOLDER) with each `{name}` filled in by the quoted name
    `identifiers[name]` (a schema, a role)."""
    text = (FOLDER / path).read_text()
    return pgsql.SQL(text).format(**{name: pgsql.Identifier(value) for name, value in identifiers.items()})


_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def transform(path: str, schema: str, tables: dict[str, str]) -> str:
    """The transform in `path` (relative to FOLDER) as psycopg2 runs it: each `{{ name }}` of `tables` is
    that table's quoted `"schema"."table"`, any other `{{ name }}` the bind parameter `%(name)s` (the
    task gives its value); the `{# ... #}` comments are left out. `%` in the SQL itself must be written `%%`."""
    from include.finance.schema import quoted

    def fill(match: re.Match) -> str:
        name = match.group(1)
        return quoted(schema, tables[name]) if name in tables else f"%({name})s"

    return _PLACEHOLDER.sub(fill, _COMMENT.sub("", (FOLDER / path).read_text())).strip()
