-- The day's champion/challenger decision (the newest finance_ml run of the day).
SELECT ds::text AS ds, run_id, model, version, decision, reason, candidate_r2, champion_r2, incumbent_version,
       serving_version, mlflow_run_id, mlflow_experiment_id, decided_at
FROM {model_decisions}
WHERE ds = %(ds)s
ORDER BY decided_at DESC
LIMIT 1
