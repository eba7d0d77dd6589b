-- The day's predictions per product type: how many customers, predicted or not, and the spread of the amounts
-- (prediction_summary, written with the day's predictions).
SELECT product_type, customers, predicted, p10_cents, median_cents, p90_cents
FROM {prediction_summary}
WHERE ds = %(ds)s
ORDER BY product_type
