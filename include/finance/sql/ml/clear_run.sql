-- A finance_ml run's rows (a retry of the run replaces them).
DELETE FROM {table} WHERE run_id = %s
