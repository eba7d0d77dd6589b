-- Day %(ds)s of customer_predictions per product type (from model_satisfaction) into prediction_summary: how
-- many customers, predicted or not, the spread of the amounts, the model version. The day's rows are deleted first
-- (sql/ml/clear_prediction_summary.sql), in the same transaction.
INSERT INTO {prediction_summary} (ds, product_type, customers, predicted, p10_cents, median_cents, p90_cents,
                                  model_version)
SELECT p.ds,
       coalesce(s.product_type, '(no survey answer)'),
       count(*),
       count(p.predicted_amount_cents),
       percentile_cont(0.1) WITHIN GROUP (ORDER BY p.predicted_amount_cents),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY p.predicted_amount_cents),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY p.predicted_amount_cents),
       max(p.model_version)
FROM {customer_predictions} p
LEFT JOIN {model_satisfaction} s ON s.ds = p.ds AND s.customer_id = p.customer_id
WHERE p.ds = %(ds)s
GROUP BY p.ds, 2
