"""A composed statement as plain text, for tests that check what would run without a database to quote it."""

from psycopg2 import sql as pgsql


def text(statement) -> str:
    """A statement as text on one line, without its comments, identifiers shown as "a"."b" (psycopg2 needs a
    connection to quote)."""
    lines = (line for line in _text(statement).splitlines() if not line.lstrip().startswith("--"))
    return " ".join(" ".join(lines).split())


def _text(statement) -> str:
    if isinstance(statement, pgsql.Composed):
        return "".join(_text(part) for part in statement.seq)
    if isinstance(statement, pgsql.Identifier):
        return ".".join('"' + s.replace('"', '""') + '"' for s in statement.strings)
    if isinstance(statement, pgsql.Literal):
        return repr(statement.wrapped)
    if isinstance(statement, pgsql.Placeholder):
        return "%s"
    return statement if isinstance(statement, str) else statement.string
