-- A customer predicted on a day, the same on every run of the day (the browser test searches for it).
SELECT customer_id FROM {customer_predictions} WHERE ds = %s AND predicted_amount_cents IS NOT NULL
ORDER BY customer_id OFFSET 7 LIMIT 1
