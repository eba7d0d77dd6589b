-- Rows of the input files that broke the data contract, with the reason and the raw text: one day and
-- kind replaced per load (include/finance/loading/load_day.py).
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    kind text NOT NULL,
    file text NOT NULL,
    line integer NOT NULL,
    reason text NOT NULL,
    raw_line text NOT NULL,
    run_id text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
)
