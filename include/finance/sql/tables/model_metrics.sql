-- One row per finance_ml run and model (include/finance/training/metrics.py rewrites a retried run's rows).
CREATE TABLE IF NOT EXISTS {table} (
    run_id text NOT NULL,
    model text NOT NULL,
    cv_r2 double precision,  -- mean R2 over the cross-validation folds: what models are compared on
    cv_r2_std double precision,
    cv_folds integer,
    r2_train double precision NOT NULL,
    r2_test double precision NOT NULL,
    fit_seconds double precision NOT NULL,
    feature_importance jsonb,
    coefficients jsonb,
    hyper_parameters jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, model)
)
