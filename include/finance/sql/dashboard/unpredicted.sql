-- The day's customers without a prediction, counted by the reason.
SELECT reason, count(*) AS customers
FROM {customer_predictions}
WHERE ds = %(ds)s AND predicted_amount_cents IS NULL
GROUP BY reason
ORDER BY customers DESC
