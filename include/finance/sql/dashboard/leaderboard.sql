-- The day's models, best first: the metrics of the newest finance_ml run that decided on the day.
SELECT m.model, m.cv_r2, m.cv_r2_std, m.r2_test, m.r2_train, m.fit_seconds
FROM {model_metrics} m
WHERE m.run_id = (SELECT d.run_id FROM {model_decisions} d WHERE d.ds = %(ds)s ORDER BY d.decided_at DESC LIMIT 1)
ORDER BY m.cv_r2 DESC NULLS LAST, m.model
