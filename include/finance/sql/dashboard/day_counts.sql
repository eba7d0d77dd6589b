-- The day's customers in the predictions, predicted or not, and the model version (prediction_summary, written
-- with the day's predictions: no row for a day finance_ml has not predicted).
SELECT coalesce(sum(customers), 0)::bigint AS customers,
       coalesce(sum(predicted), 0)::bigint AS predicted,
       coalesce(sum(customers - predicted), 0)::bigint AS without_prediction,
       max(model_version) AS model_version
FROM {prediction_summary}
WHERE ds = %(ds)s
