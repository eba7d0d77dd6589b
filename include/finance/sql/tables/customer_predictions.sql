-- The champion's prediction for every customer of a day (a dashboard's or a CRM's table), partitioned by day;
-- a customer without survey answers has no prediction and the reason. predictions.py replaces a day's partition.
CREATE TABLE IF NOT EXISTS {table} (
    customer_id text NOT NULL,
    ds date NOT NULL,
    predicted_amount_cents bigint,
    model_version text NOT NULL,
    reason text,  -- why there is no prediction
    PRIMARY KEY (customer_id, ds),
    CHECK ((predicted_amount_cents IS NULL) = (reason IS NOT NULL))
) PARTITION BY LIST (ds)
