"""The SQL of finance_elt's transforms. `{{ name }}` is filled in by the Astro SDK with the argument
`name` of the @aql.transform function that returns the statement: a table name for a Table, a bind
parameter (never pasted text) for anything else, such as `day`, the run's logical date.

finance_elt: MODEL_INPUT_AUDIT (what the model table leaves out, a plain statement with psycopg2
parameters), then SELECT_SUCCESSFUL_CHARGES -> AVG_SUCCESSFUL_PER_CUSTOMER -> JOIN_CHARGE_SATISFACTION;
finance_ml: SELECT_MODEL_ROWS."""

# The logical date's charges that went through (succeeded and paid) in the model's currency, with a
# plausible captured amount: averaging dollars with yen, or with a unit error, would make no sense.
SELECT_SUCCESSFUL_CHARGES = """
    SELECT *
    FROM {{ in_charge }}
    WHERE ds = {{ day }} AND status = 'succeeded' AND paid
        AND currency = {{ currency }} AND amount_captured <= {{ max_amount }}
"""

MODEL_INPUT_AUDIT_TABLE = """
    CREATE TABLE IF NOT EXISTS {schema}.model_input_audit (
        ds date PRIMARY KEY,
        successful_charges bigint NOT NULL,  -- succeeded and paid, any currency
        other_currency_charges bigint NOT NULL,  -- of those, not in the model's currency
        implausible_charges bigint NOT NULL,  -- in the model's currency, above the plausible amount
        survey_answers bigint NOT NULL,
        orphan_surveys bigint NOT NULL,  -- answers of customers without any charge that day
        run_id text NOT NULL,
        audited_at timestamptz NOT NULL DEFAULT now()
    )
"""

# What the day's model table leaves out, counted in the loaded partitions (the rows stay there).
MODEL_INPUT_AUDIT = """
    INSERT INTO {schema}.model_input_audit AS a (ds, successful_charges, other_currency_charges,
        implausible_charges, survey_answers, orphan_surveys, run_id)
    SELECT %(ds)s,
        count(*),
        count(*) FILTER (WHERE currency <> %(currency)s),
        count(*) FILTER (WHERE currency = %(currency)s AND amount_captured > %(max_amount)s),
        (SELECT count(*) FROM {schema}.in_satisfaction WHERE ds = %(ds)s),
        (SELECT count(*) FROM {schema}.in_satisfaction s WHERE s.ds = %(ds)s AND NOT EXISTS
            (SELECT 1 FROM {schema}.in_charge c WHERE c.ds = %(ds)s AND c.customer_id = s.customer_id)),
        %(run_id)s
    FROM {schema}.in_charge
    WHERE ds = %(ds)s AND status = 'succeeded' AND paid
    ON CONFLICT (ds) DO UPDATE SET (successful_charges, other_currency_charges, implausible_charges,
        survey_answers, orphan_surveys, run_id, audited_at) = (EXCLUDED.successful_charges,
        EXCLUDED.other_currency_charges, EXCLUDED.implausible_charges, EXCLUDED.survey_answers,
        EXCLUDED.orphan_surveys, EXCLUDED.run_id, now())
"""

# The target of the models: the average captured amount (cents) per customer.
AVG_SUCCESSFUL_PER_CUSTOMER = """
    SELECT customer_id, AVG(amount_captured)::double precision AS avg_amount_captured
    FROM {{ successful_charges }}
    GROUP BY customer_id
"""

# One row per paying customer, with the survey answers where the customer gave any (NULL otherwise).
JOIN_CHARGE_SATISFACTION = """
    SELECT
        a.customer_id,
        s.customer_satisfaction_speed,
        s.customer_satisfaction_product,
        s.customer_satisfaction_service,
        s.product_type,
        a.avg_amount_captured
    FROM {{ avg_per_customer }} AS a
    LEFT JOIN {{ in_satisfaction }} AS s ON s.customer_id = a.customer_id AND s.ds = {{ day }}
"""

# finance_ml's input: the columns the models use, of at most `max_rows` customers in a fixed
# pseudo-random order (all of them when the table is smaller), and the table's size for the model card.
SELECT_MODEL_ROWS = """
    SELECT
        customer_id,
        customer_satisfaction_speed,
        customer_satisfaction_product,
        customer_satisfaction_service,
        product_type,
        avg_amount_captured,
        count(*) OVER () AS table_rows
    FROM {{ model_satisfaction }}
    ORDER BY md5(customer_id)
    LIMIT {{ max_rows }}
"""
