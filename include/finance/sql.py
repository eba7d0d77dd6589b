"""The SQL of finance_elt's transforms. `{{ name }}` is filled in by the Astro SDK with the argument
`name` of the @aql.transform function that returns the statement: a table name for a Table, a bind
parameter (never pasted text) for anything else, such as `day`, the run's logical date.

finance_elt: SELECT_SUCCESSFUL_CHARGES -> AVG_SUCCESSFUL_PER_CUSTOMER -> JOIN_CHARGE_SATISFACTION;
finance_ml: SELECT_MODEL_ROWS."""

# The logical date's charges that went through: succeeded and paid.
SELECT_SUCCESSFUL_CHARGES = """
    SELECT *
    FROM {{ in_charge }}
    WHERE ds = {{ day }} AND status = 'succeeded' AND paid
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
