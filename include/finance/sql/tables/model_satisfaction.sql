-- One row per paying customer and day: the survey answers where the customer gave any (NULL otherwise) and the
-- target. finance_elt replaces its day (schema.publish_day); finance_ml reads the day its dataset event names.
CREATE TABLE IF NOT EXISTS {table} (
    customer_id text NOT NULL,
    customer_satisfaction_speed smallint,
    customer_satisfaction_product smallint,
    customer_satisfaction_service smallint,
    product_type text,
    avg_amount_captured double precision NOT NULL,
    ds date NOT NULL,
    PRIMARY KEY (ds, customer_id)
)
