-- One row per finance_ml run: the registered version of its best model and the champion/challenger decision on it,
-- as the registry (MLflow) recorded it (production.py writes it once the decision is taken; a retry rewrites it).
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    run_id text NOT NULL,  -- finance_ml's Airflow run
    model text NOT NULL,
    version text NOT NULL,  -- of the registered model
    decision text NOT NULL,  -- 'promoted' or 'not promoted'
    reason text NOT NULL,
    candidate_r2 double precision,  -- on the day's held-out rows
    champion_r2 double precision,  -- the incumbent's on the same rows
    incumbent_version text,
    serving_version text NOT NULL,  -- the champion after the decision
    mlflow_run_id text NOT NULL,  -- the version's nested run
    mlflow_experiment_id text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ds, run_id)
)
