-- Per day, what model_satisfaction leaves out of the loaded rows (counted by audit_model_input.sql).
CREATE TABLE IF NOT EXISTS {table} (
    ds date PRIMARY KEY,
    successful_charges bigint NOT NULL,  -- succeeded and paid, any currency
    other_currency_charges bigint NOT NULL,  -- of those, not in the model's currency
    implausible_charges bigint NOT NULL,  -- in the model's currency, above the plausible amount
    survey_answers bigint NOT NULL,
    orphan_surveys bigint NOT NULL,  -- answers of customers without any charge that day
    run_id text NOT NULL,
    audited_at timestamptz NOT NULL DEFAULT now()
)
