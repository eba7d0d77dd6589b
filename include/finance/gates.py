"""What finance_elt's quality gates assert: the column mappings and table checks its check operators
(common-sql's `SQLColumnCheckOperator` and `SQLTableCheckOperator`) run, thresholds from settings.

A failing gate stops the day before `model_satisfaction` is replaced and before the dataset that
triggers finance_ml is emitted.
"""

from __future__ import annotations

from include.finance.config import Settings

SCORES_FROM_0_TO_10 = {
    f"customer_satisfaction_{aspect}": {"min": {"geq_to": 0}, "max": {"leq_to": 10}}
    for aspect in ("speed", "product", "service")
}
NO_NULL = {"null_check": {"equal_to": 0}}
UNIQUE_KEY = {**NO_NULL, "unique_check": {"equal_to": 0}}

# The day's loaded rows, per kind: keys present and unique, values in range.
LOADED_COLUMNS = {
    "charge": {"id": UNIQUE_KEY, "customer_id": NO_NULL, "amount": {"min": {"geq_to": 0}},
               "amount_captured": {"min": {"geq_to": 0}}},
    "satisfaction": {"customer_id": UNIQUE_KEY, **SCORES_FROM_0_TO_10},
}


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
        "customer_id": UNIQUE_KEY,
        "avg_amount_captured": {**NO_NULL, "min": {"geq_to": 0}, "max": {"leq_to": settings.max_charge_amount}},
        **SCORES_FROM_0_TO_10,
    }
