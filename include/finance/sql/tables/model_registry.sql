-- One row per model a finance_ml run published (its best one, the candidate), and whether it serves:
-- status 'champion' (one row at most), 'candidate' (not promoted) or 'retired' (was champion). registry.py decides.
CREATE TABLE IF NOT EXISTS {table} (
    version text PRIMARY KEY,  -- the run's key in the bucket: <ML_ARTIFACTS_PREFIX>/<version>/
    run_id text NOT NULL,
    ds date NOT NULL,  -- the day of model_satisfaction it was trained on
    model text NOT NULL,
    model_class text NOT NULL,
    hyper_parameters jsonb NOT NULL,
    metrics jsonb NOT NULL,  -- cv_r2, r2_test, ... as in the model card
    artifact_uri text NOT NULL,  -- model.joblib
    model_sha256 text NOT NULL,  -- of model.joblib: checked before it is loaded
    training_rows_uri text NOT NULL,  -- training_rows.csv.gz: what its drift is measured against
    training_rows_sha256 text,  -- of training_rows.csv.gz: checked before drift is measured against it
    status text NOT NULL CHECK (status IN ('candidate', 'champion', 'retired')),
    reason text NOT NULL,  -- why it was promoted or not; a retired champion's also by which model and when
    candidate_r2 double precision NOT NULL,  -- its R2 on the day's held-out rows
    champion_r2 double precision,  -- the champion's R2 on the same rows (NULL: there was none)
    incumbent_version text,  -- the champion when it was decided
    registered_at timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS model_registry_one_champion ON {table} ((true)) WHERE status = 'champion';
-- a table an earlier version made: its rows have no digest of their training rows (NULL), whose drift is not
-- measured (production.monitor)
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS training_rows_sha256 text
