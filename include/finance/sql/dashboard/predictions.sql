-- The day's predictions, each with the customer's product type; filtered by a fragment of the customer id and
-- by a product type (empty: all), the first `limit` rows by customer id.
SELECT p.customer_id, s.product_type, p.predicted_amount_cents, p.model_version, p.reason
FROM {customer_predictions} p
LEFT JOIN {model_satisfaction} s ON s.ds = p.ds AND s.customer_id = p.customer_id
WHERE p.ds = %(ds)s
  AND (%(search)s = '' OR p.customer_id ILIKE '%%' || %(search)s || '%%')
  AND (%(product_type)s = '' OR s.product_type = %(product_type)s)
ORDER BY p.customer_id
LIMIT %(limit)s
