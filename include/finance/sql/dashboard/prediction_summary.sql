-- The day's predictions per product type: how many customers, predicted or not, and the spread of the amounts.
SELECT coalesce(s.product_type, '(no survey answer)') AS product_type,
       count(*) AS customers,
       count(p.predicted_amount_cents) AS predicted,
       percentile_cont(0.1) WITHIN GROUP (ORDER BY p.predicted_amount_cents) AS p10_cents,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY p.predicted_amount_cents) AS median_cents,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY p.predicted_amount_cents) AS p90_cents
FROM {customer_predictions} p
LEFT JOIN {model_satisfaction} s ON s.ds = p.ds AND s.customer_id = p.customer_id
WHERE p.ds = %(ds)s
GROUP BY 1
ORDER BY 1
