-- The day's customers in the model input and in the predictions, predicted or not.
SELECT (SELECT count(*) FROM {model_satisfaction} WHERE ds = %(ds)s) AS model_customers,
       count(*) AS customers,
       count(predicted_amount_cents) AS predicted,
       count(*) FILTER (WHERE predicted_amount_cents IS NULL) AS without_prediction,
       max(model_version) AS model_version
FROM {customer_predictions}
WHERE ds = %(ds)s
