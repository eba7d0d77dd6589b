"""What finance_elt's quality gates assert: the column mappings and table checks its check operators
(common-sql's `SQLColumnCheckOperator` and `SQLTableCheckOperator`) run, thresholds from settings.

A failing gate stops the day before `model_satisfaction` is replaced and before the dataset that
triggers finance_ml is emitted.
"""

from __future__ import annotations

from include.finance.config import Settings

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
    """The day's loaded rows of a kind: keys present and unique, values in range."""
    return {
        "charge": lambda: {"id": unique_key(), "customer_id": no_null(), "amount": {"min": {"geq_to": 0}},
                           "amount_captured": {"min": {"geq_to": 0}}},
        "satisfaction": lambda: {"customer_id": unique_key(), **scores_from_0_to_10()},
    }[kind]()


# The rows a check reads: the run's day (rendered by Airflow), of one kind in load_audit.
DAY = "ds = '{{ ds }}'"


def day_of_kind(kind: str) -> str:
    return f"{DAY} AND kind = '{kind}'"


def enough_rows(minimum: int) -> dict:
    return {"enough_rows": {"check_statement": f"COUNT(*) >= {int(minimum)}"}}


def few_rejects(settings: Settings) -> dict:
    """On load_audit's rows of one kind and day."""
    return {"few_rejects": {"check_statement":
                            f"SUM(rows_rejected) <= {float(settings.max_rejected_share)} * GREATEST(SUM(rows_read), 1)"}}


def model_input(settings: Settings) -> dict:
    """On the day's row of model_input_audit: few implausible charges, few survey answers without charges."""
    return {
        "few_implausible_charges": {"check_statement": f"implausible_charges <= {float(settings.max_implausible_share)}"
                                    " * GREATEST(successful_charges - other_currency_charges, 1)"},
        "few_orphan_surveys": {"check_statement": f"orphan_surveys <= {float(settings.max_orphan_share)}"
                               " * GREATEST(survey_answers, 1)"},
    }


def model_satisfaction_columns(settings: Settings) -> dict:
    return {
        "customer_id": unique_key(),
        "avg_amount_captured": {**no_null(), "min": {"geq_to": 0}, "max": {"leq_to": settings.max_charge_amount}},
        **scores_from_0_to_10(),
    }
