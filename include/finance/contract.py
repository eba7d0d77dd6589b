"""The data contract of the input files: what a charge or satisfaction CSV must look like.

Files come from outside (exports, vendors, `make run DATA=...`), so every row is checked against
the declared columns before it reaches a table:

- The header names the columns (any order; names are matched case-insensitively). Columns the
  contract does not know are ignored. A missing *required* column is a `ContractError` naming the
  file and the column: nothing of that run is loaded. A missing *optional* column loads as NULL.
- Each data row is one CSV record (RFC 4180: quoted fields may hold commas, quotes and newlines;
  LF or CRLF line ends; a UTF-8 byte order mark is dropped). A row that breaks the contract (wrong
  number of fields, bytes that are not UTF-8, a required value missing, a value of the wrong type or
  out of range) is *rejected* with its line number, the reason and the raw text, and the other rows
  load.
- Values are read the way PostgreSQL reads them, so that a clean file can go straight to `COPY`
  (`include/finance/loading/load_file.py`) and give the same rows: numbers and booleans may have spaces around
  them, booleans are PostgreSQL's spellings, text is kept as it is (an empty field is NULL; a required
  text made of spaces only is missing).

This module declares the contracts and their value checks; `include/finance/loading/reader.py` reads a file
against one (`RowReader`), `include/finance/schema.py` turns one into tables and CHECK constraints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

BIGINT_MAX = 2**63 - 1
# Limits that keep a hostile file's cost linear and its memory bounded, the same on the COPY path
# (include/finance/loading/load_file.py) and in the row reader: a longer physical line is rejected as one row; a
# record whose quoted field is still open after MAX_RECORD_LINES lines or MAX_LINE_BYTES is taken as a
# quote never closed: its first line is rejected and reading resumes at the next line.
MAX_LINE_BYTES = 1 << 20
MAX_RECORD_LINES = 100
RAW_PREVIEW_BYTES = 1000  # what `load_rejects.raw_line` keeps of a line longer than MAX_LINE_BYTES
PG_MAX_COLUMNS = 1600  # of a PostgreSQL table: a day's new partition holds the contract's, 3 more and the unknown ones


class ContractError(ValueError):
    """A file that cannot be loaded at all (e.g. a required column is missing)."""


class BadValue(ValueError):
    """One value that breaks the contract; the message is the reason stored with the rejected row."""


# --- value checks: each takes a non-empty field and returns the text to COPY -----------------------
# Each has the SQL twin `sql_check` (for the COPY path's CHECK constraints), or none when the column's
# type already enforces it.

SPACE = " \t\n\r\v\f"  # what PostgreSQL trims around numbers and booleans (C isspace)
_INTEGER = re.compile(r"[+-]?[0-9]+")


def text(value: str) -> str:
    return value


text.sql_check = None


def non_negative_int(value: str) -> str:
    value = value.strip(SPACE)
    if not _INTEGER.fullmatch(value) or not 0 <= int(value) <= BIGINT_MAX:
        raise BadValue(f"not a non-negative integer: {value!r}")
    return value


non_negative_int.sql_check = "{column} >= 0"


def int_between(low: int, high: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip(SPACE)
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise BadValue(f"not an integer from {low} to {high}: {value!r}")
        return value

    check.__name__ = f"int_between_{low}_{high}"
    check.sql_check = f"{{column}} BETWEEN {low:d} AND {high:d}"
    return check


# PostgreSQL's boolean input: any prefix of true/false/yes/no, on/off/of, 1/0, in any case.
TRUE = frozenset({"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"})
FALSE = frozenset({"f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"})


def boolean(value: str) -> str:
    lowered = value.strip(SPACE).lower()
    if lowered in TRUE and value.isascii():
        return "t"
    if lowered in FALSE and value.isascii():
        return "f"
    raise BadValue(f"not a boolean (true/false, t/f, yes/no, y/n, on/off, 1/0): {value.strip(SPACE)!r}")


boolean.sql_check = None


def one_of(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise BadValue(f"not one of {', '.join(allowed)}: {value!r}")
        return value

    check.__name__ = f"one_of_{'_'.join(allowed)}"
    check.sql_check = "{column} IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in allowed) + ")"
    return check


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    check: Callable[[str], str] = text
    required: bool = False

    def missing(self, value: str) -> bool:
        """An empty field; for a required column also one of spaces only."""
        return not (value.strip(SPACE) if self.required or self.check is not text else value)


@dataclass(frozen=True)
class Contract:
    kind: str  # the file kind: charge/, satisfaction/ in object storage
    table: str  # the permanent table the good rows go to
    key: str  # unique per day: a second row with the same key is a duplicate and dropped
    columns: tuple[Column, ...]
    # the columns the transforms filter, group and join on: analyzed as soon as a day is loaded
    analyze: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


CHARGE = Contract(
    kind="charge",
    table="in_charge",
    key="id",
    columns=(
        Column("id", "text", required=True),
        Column("amount", "bigint", non_negative_int, required=True),  # cents
        Column("amount_captured", "bigint", non_negative_int, required=True),
        Column("amount_refunded", "bigint", non_negative_int),
        Column("currency", "text", required=True),
        Column("created", "bigint", non_negative_int, required=True),  # Unix seconds, as Stripe sends it
        Column("customer_id", "text", required=True),
        Column("description", "text"),
        Column("disputed", "boolean", boolean),
        Column("outcome_network_status", "text"),
        Column("outcome_reason", "text"),
        Column("outcome_risk_level", "text"),
        Column("outcome_risk_score", "smallint", int_between(0, 100)),
        Column("paid", "boolean", boolean, required=True),
        Column("payment_intent", "text"),
        Column("payment_method", "text"),
        Column("payment_method_details_card_brand", "text"),
        Column("payment_method_details_card_country", "text"),
        Column("status", "text", one_of("succeeded", "pending", "failed"), required=True),
        Column("captured", "boolean", boolean),
        Column("refunded", "boolean", boolean),
        Column("livemode", "boolean", boolean),
        Column("failure_code", "text"),
        Column("outcome_type", "text"),
        Column("payment_method_details_card_funding", "text"),
        Column("payment_method_details_card_last4", "text"),  # text: "0042" keeps its zeros
    ),
    analyze=("ds", "status", "paid", "customer_id", "amount_captured"),
)

SATISFACTION = Contract(
    kind="satisfaction",
    table="in_satisfaction",
    key="customer_id",
    columns=(
        Column("customer_id", "text", required=True),
        Column("customer_satisfaction_speed", "smallint", int_between(0, 10), required=True),
        Column("customer_satisfaction_product", "smallint", int_between(0, 10), required=True),
        Column("customer_satisfaction_service", "smallint", int_between(0, 10), required=True),
        Column("product_type", "text", required=True),
    ),
    analyze=("ds", "customer_id"),
)

CONTRACTS = {c.kind: c for c in (CHARGE, SATISFACTION)}
KINDS = tuple(CONTRACTS)  # the kinds of input file, each in its own folder of the bucket and its own table

# The model table, model_satisfaction, which finance_elt builds from both kinds: a paying customer's survey
# answers, as the satisfaction contract declares them, are the features (its scores numbers, its text answers,
# product_type, categories); the target is the customer's average captured amount.
MODEL_KEY = SATISFACTION.key
NUMERIC_FEATURES = [c.name for c in SATISFACTION.columns if c.name != MODEL_KEY and c.sql_type != "text"]
CATEGORICAL_FEATURES = [c.name for c in SATISFACTION.columns if c.name != MODEL_KEY and c.sql_type == "text"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
TARGET = "avg_amount_captured"
TARGET_UNIT = "cents"
