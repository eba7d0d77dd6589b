-- The day's predictions per product type, written with the day's customer_predictions in the same transaction
-- (predictions.py, sql/statements/summarise_predictions.sql): how many customers, predicted or not, and the
-- spread of the predicted amounts. What the dashboard's Customers page charts, without reading millions of rows.
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    product_type text NOT NULL,  -- '(no survey answer)' for the customers without answers
    customers bigint NOT NULL,
    predicted bigint NOT NULL,
    p10_cents double precision,
    median_cents double precision,
    p90_cents double precision,
    PRIMARY KEY (ds, product_type)
)
