"""What finance_elt's quality gates assert, and what a failing one says.

Each gate is checked in the database by a common-sql check operator (`include/finance/quality/gate_operators.py`):

- a `Gate` is one table check (`SQLTableCheckOperator`): the figures it measures on the checked rows (SQL
  aggregates), the condition on them that passes (SQL, with its limit, a setting), and the sentence a
  failure says: the same figures measured again, against the setting's name and value, and what else the
  day held (its files, its largest charges);
- a column mapping is the column checks of a table (`SQLColumnCheckOperator`): a failure is told from
  the results the operator measured (`column_failures`).

Thresholds: `include/finance/config.py` (a setting's environment variable is its name in upper case).
A failing gate stops the day before `model_satisfaction` is replaced and before the dataset that triggers
finance_ml is emitted, and is not retried: the same rows give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from include.finance import sql
from include.finance.config import Settings
from include.finance.contract import CONTRACTS
from include.finance.schema import LOAD_AUDIT, LOAD_REJECTS, MODEL_INPUT_AUDIT, MODEL_SATISFACTION_STAGING
from include.finance.sql import quoted

# What a failure's sentence asks of the database beyond its figures: a statement with %(name)s
# parameters -> its rows.
Query = Callable[[str, dict], list[tuple]]

# The rows of each checked table, as a failure names them.
ROWS_OF = {CONTRACTS["charge"].table: "charges", CONTRACTS["satisfaction"].table: "survey answers",
           MODEL_SATISFACTION_STAGING: "customers", LOAD_AUDIT: "load_audit rows",
           MODEL_INPUT_AUDIT: "model_input_audit rows"}


def number(value) -> str:
    """2202 -> '2,202'; 1234.5 -> '1,234.5'; None -> 'NULL'."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, Decimal)) and value == int(value) or isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.6g}" if abs(value) < 1000 else f"{float(value):,.2f}"


def percent(share) -> str:
    """0.05 -> '5 %', 0.0963 -> '9.6 %', 0.0015 -> '0.15 %'."""
    value = float(share) * 100
    if value == int(value):
        return f"{int(value)} %"
    return f"{value:.1f} %" if value >= 1 else f"{value:.2g} %"


def share(part, whole) -> str:
    return percent(part / whole) if whole else "of none"


@dataclass(frozen=True)
class Gate:
    """One table check: `figures` (name -> SQL aggregate over the checked rows), `passes` (SQL over the
    `{figure}`s and `{limit}`), its limit `setting` (a field of Settings) and that setting's value, and
    `says(figures, day, allowed)`, the failure in the data's words; `more(query, day)` adds what else
    the day held."""

    name: str
    figures: dict[str, str]
    passes: str
    setting: str
    limit: int | float
    says: Callable[[dict, str, str], str]
    more: Callable[[Query, str], str] | None = field(default=None)

    def check(self) -> dict:
        """The operator's check: a new dict at every call (the operator writes its result into it)."""
        return {self.name: {"check_statement": self.passes.format(limit=repr(self.limit), **self.figures)}}

    @property
    def allowed(self) -> str:
        """The limit as a user sets it: 'MAX_ORPHAN_SHARE 5 %', 'MIN_MODEL_ROWS 50'."""
        value = percent(self.limit) if isinstance(self.limit, float) else number(self.limit)
        return f"{self.setting.upper()} {value}"

    def figures_query(self, table: str, where: str | None) -> str:
        """The figures, measured on the rows the check read."""
        columns = ", ".join(f"{expression} AS {name}" for name, expression in self.figures.items())
        return sql.text("gates/figures.sql", columns=columns, table=table, where=f" WHERE {where}" if where else "")

    def failure(self, figures: dict, day: str, table: str) -> str:
        """What the figures measured on `table`'s rows of `day` say against the limit (`more` is the operator's)."""
        figures = {name: int(v) if isinstance(v, Decimal) and v == int(v) else v for name, v in figures.items()}
        if any(value is None for value in figures.values()):
            return f"{table} has no row on {day}: nothing measured, which fails {self.name} ({self.allowed})"
        return self.says(figures, day, self.allowed)


# The check operators write each check's result into the mapping they were given: every call builds
# new dicts, so that no two checks (or two operators) share one.
def no_null() -> dict:
    return {"null_check": {"equal_to": 0}}


def unique_key() -> dict:
    return {**no_null(), "unique_check": {"equal_to": 0}}


def scores_from_0_to_10() -> dict:
    return {f"customer_satisfaction_{aspect}": {"min": {"geq_to": 0}, "max": {"leq_to": 10}}
            for aspect in ("speed", "product", "service")}


def loaded_columns(kind: str) -> dict:
    """The day's loaded rows of a kind: keys present and unique, values in range (the contract's)."""
    return {
        "charge": lambda: {"id": unique_key(), "customer_id": no_null(), "amount": {"min": {"geq_to": 0}},
                           "amount_captured": {"min": {"geq_to": 0}}},
        "satisfaction": lambda: {"customer_id": unique_key(), **scores_from_0_to_10()},
    }[kind]()


def model_satisfaction_columns(settings: Settings) -> dict:
    return {
        "customer_id": unique_key(),
        "avg_amount_captured": {**no_null(), "min": {"geq_to": 0}, "max": {"leq_to": settings.max_charge_amount}},
        **scores_from_0_to_10(),
    }


# The setting behind a limit of the mappings above, named when a column breaks it (the others are the
# contract's).
LIMIT_SETTINGS = {("avg_amount_captured", "max"): "max_charge_amount"}


def _range(column: str, checks: dict) -> str:
    """A column's range from its min and max checks: 'from 0 to 10', 'from 0', 'up to MAX_CHARGE_AMOUNT 10'."""
    def bound(check: str, keys: tuple[str, ...]) -> str | None:
        for key in keys:
            if key in checks.get(check, {}):
                setting = LIMIT_SETTINGS.get((column, check))
                return (f"{setting.upper()} " if setting else "") + number(checks[check][key])
        return None

    low, high = bound("min", ("geq_to", "greater_than")), bound("max", ("leq_to", "less_than"))
    if low and high:
        return f"from {low} to {high}"
    return f"from {low}" if low else f"up to {high}"


def column_failures(mapping: dict, rows: int, noun: str) -> list[str]:
    """What the failed checks of a column mapping measured (the operator wrote each check's `result` and
    `success` into it), of `rows` rows."""
    said = []
    for column, checks in mapping.items():
        for check, values in checks.items():
            if values.get("success", True):
                continue
            result = values.get("result")
            if check == "null_check":
                said.append(f"{number(result)} of {number(rows)} {noun} have no {column}")
            elif check == "unique_check":
                said.append(f"{number(result)} of {number(rows)} {noun} repeat a {column} another one has")
            elif check in ("min", "max"):
                extreme = "as low as" if check == "min" else "as high as"
                said.append(f"{column} is {extreme} {number(result)}, allowed {_range(column, checks)}")
            else:
                said.append(f"{column}: {check} is {number(result)}, allowed {values}")
    return said


# The rows a check reads: the run's day (rendered by Airflow), of one kind in load_audit.
DAY = "ds = '{{ ds }}'"


def day_of_kind(kind: str) -> str:
    return f"{DAY} AND kind = '{kind}'"


def _file(row: tuple) -> str:
    """A file of load_audit (file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, note,
    loaded_by) as '<name> (<what it held>)'."""
    file, read, loaded, rejected, duplicates, note, loaded_by = row
    if loaded_by == "ignored":
        held = note
    elif note == "empty file":
        held = "empty"
    elif note == "header only":
        held = note
    elif not loaded and rejected:
        held = f"{number(read)} rows, all rejected" if rejected == read else f"{number(read)} rows, none loaded"
    elif not loaded and duplicates:
        held = f"{number(read)} rows, all duplicates"
    else:
        held = f"{number(loaded)} rows"
    return f"{file.rsplit('/', 1)[-1]} ({held})"


def day_files(schema: str, kind: str, rowless: bool = False, most: int = 5) -> Callable[[Query, str], str]:
    """'<kind> files that day: a.csv (1,000 rows), b.csv (empty)': the day's files of a kind in load_audit,
    or (`rowless`) only those that loaded no row."""
    def more(query: Query, day: str) -> str:
        rows = query(sql.text("gates/day_files.sql", load_audit=quoted(schema, LOAD_AUDIT)),
                     {"day": day, "kind": kind, "rowless": rowless})
        if not rows:
            return f"every {kind} file of that day has rows" if rowless else f"no {kind} file that day"
        listed = ", ".join(_file(row) for row in rows[:most])
        others = f" and {len(rows) - most} more" if len(rows) > most else ""
        return f"{kind} files {'without rows ' if rowless else ''}that day: {listed}{others}"
    return more


def rejected_files(schema: str, kind: str, most: int = 3) -> Callable[[Query, str], str]:
    """'rejected in: bad.csv 118 of 120 rows (line 2: <reason>)': the files of the day with the most
    rejected rows, each with its first rejected line."""
    def more(query: Query, day: str) -> str:
        rows = query(sql.text("gates/rejected_files.sql", load_rejects=quoted(schema, LOAD_REJECTS),
                              load_audit=quoted(schema, LOAD_AUDIT)), {"day": day, "kind": kind})
        if not rows:
            return f"no {kind} file of that day has rejected rows"
        listed = ", ".join(f"{file.rsplit('/', 1)[-1]} {number(rejected)} of {number(read)} rows"
                           + (f" ({first})" if first else "") for file, rejected, read, first in rows[:most])
        others = f" and {len(rows) - most} more files" if len(rows) > most else ""
        return f"rejected in: {listed}{others}"
    return more


def enough_rows(setting: str, minimum: int, table: str, more: Callable[[Query, str], str] | None = None) -> Gate:
    noun = ROWS_OF.get(table, "rows")
    return Gate("enough_rows", {"row_count": "COUNT(*)"}, "{row_count} >= {limit}", setting, int(minimum),
                lambda f, day, allowed: f"{table} has {number(f['row_count'])} {noun} on {day}, fewer than {allowed}",
                more)


def loaded_rows(settings: Settings, kind: str) -> Gate:
    """On the day's loaded rows of a kind."""
    return enough_rows("min_input_rows", settings.min_input_rows, CONTRACTS[kind].table,
                       day_files(settings.db_schema, kind))


def model_rows(settings: Settings) -> Gate:
    """On model_satisfaction_staging (the day's customers)."""
    def the_day(query: Query, day: str) -> str:
        found = query(sql.text("gates/input_of_the_day.sql",
                               model_input_audit=quoted(settings.db_schema, MODEL_INPUT_AUDIT)), {"day": day})
        if not found:
            return "model_input_audit has no row of that day"
        charges, answers = found[0]
        return f"the day has {number(charges)} successful charges and {number(answers)} survey answers"
    return enough_rows("min_model_rows", settings.min_model_rows, MODEL_SATISFACTION_STAGING, the_day)


def few_rejects(settings: Settings, kind: str) -> Gate:
    """On load_audit's rows of one kind and day."""
    return Gate(
        "few_rejects", {"rejected": "SUM(rows_rejected)", "read": "SUM(rows_read)"},
        "{rejected} <= {limit} * GREATEST({read}, 1)", "max_rejected_share", float(settings.max_rejected_share),
        lambda f, day, allowed: (f"{number(f['rejected'])} of {number(f['read'])} {kind} rows read on {day}"
                                 f" ({share(f['rejected'], f['read'])}) were rejected, more than {allowed}"),
        rejected_files(settings.db_schema, kind))


def model_input(settings: Settings) -> list[Gate]:
    """On the day's row of model_input_audit: few implausible charges, few survey answers without charges."""
    def largest(query: Query, day: str) -> str:
        rows = query(sql.text("gates/largest_charges.sql", in_charge=quoted(settings.db_schema, CONTRACTS["charge"].table)),
                     {"day": day, "currency": settings.model_currency, "max_amount": settings.max_charge_amount})
        if not rows:
            return f"no such charge in {CONTRACTS['charge'].table} now"
        return "the largest: " + ", ".join(f"{charge} {number(amount)} ({file.rsplit('/', 1)[-1]} line {line})"
                                           for charge, amount, file, line in rows)

    currency = settings.model_currency
    return [
        Gate("few_implausible_charges",
             {"implausible": "SUM(implausible_charges)", "in_currency": "SUM(successful_charges - other_currency_charges)"},
             "{implausible} <= {limit} * GREATEST({in_currency}, 1)", "max_implausible_share",
             float(settings.max_implausible_share),
             lambda f, day, allowed: (
                 f"{number(f['implausible'])} of {number(f['in_currency'])} successful {currency} charges"
                 f" ({share(f['implausible'], f['in_currency'])}) are above MAX_CHARGE_AMOUNT"
                 f" {number(settings.max_charge_amount)} on {day}, more than {allowed}"),
             largest),
        Gate("few_orphan_surveys", {"orphans": "SUM(orphan_surveys)", "answers": "SUM(survey_answers)"},
             "{orphans} <= {limit} * GREATEST({answers}, 1)", "max_orphan_share", float(settings.max_orphan_share),
             lambda f, day, allowed: (f"{number(f['orphans'])} of {number(f['answers'])} survey answers"
                                      f" ({share(f['orphans'], f['answers'])}) have no charge on {day},"
                                      f" more than {allowed}"),
             day_files(settings.db_schema, "charge", rowless=True)),
    ]
