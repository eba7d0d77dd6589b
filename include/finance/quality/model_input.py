"""What the day's model table leaves out of the loaded rows, counted into `model_input_audit`
(`include/finance/sql/gates/audit_model_input.sql`): charges in another currency or with an
implausible amount, survey answers of customers without a charge that day. finance_elt's
`check_model_input` gate reads the counts."""

from __future__ import annotations

from include.finance import sql
from include.finance.contract import CONTRACTS
from include.finance.schema import MODEL_INPUT_AUDIT


def audit_model_input(conn, schema: str, ds: str, run_id: str, currency: str, max_amount: int) -> dict:
    """Count the day (a rerun replaces its counts) and return the counts."""
    statement = sql.statement("gates/audit_model_input.sql", schema, model_input_audit=MODEL_INPUT_AUDIT,
                              in_charge=CONTRACTS["charge"].table, in_satisfaction=CONTRACTS["satisfaction"].table)
    with conn, conn.cursor() as cur:
        cur.execute(statement, {"ds": ds, "run_id": run_id, "currency": currency, "max_amount": max_amount})
        return dict(zip([c.name for c in cur.description], cur.fetchone()))
