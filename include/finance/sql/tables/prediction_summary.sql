-- The day's predictions per product type, written with the day's customer_predictions in the same transaction
-- (predictions.py, sql/ml/summarise_predictions.sql): how many customers, predicted or not, the
-- spread of the predicted amounts and the model version. What the dashboard's overview counts and its
-- Customers page charts, without reading every customer's row.
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    product_type text NOT NULL,  -- '(no survey answer)' for the customers without answers
    customers bigint NOT NULL,
    predicted bigint NOT NULL,
    p10_cents double precision,
    median_cents double precision,
    p90_cents double precision,
    model_version text NOT NULL,  -- the version that predicted the day
    PRIMARY KEY (ds, product_type)
)
