-- Per day, how the serving model (the champion before the day's decision) fares on the day's rows: its R2
-- ('r2', feature ''), and each input feature's drift against its training rows ('psi', 'ks'). monitoring.py.
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    run_id text NOT NULL,
    model_version text NOT NULL,
    metric text NOT NULL CHECK (metric IN ('r2', 'psi', 'ks')),
    feature text NOT NULL,
    value double precision NOT NULL,
    threshold double precision,  -- r2 alerts below it, psi above it; ks is not alerted on
    alert boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ds, metric, feature)
)
