-- One row per input file and day: every data row is accounted for (the CHECK makes it a real check).
CREATE TABLE IF NOT EXISTS {table} (
    ds date NOT NULL,
    kind text NOT NULL,
    file text NOT NULL,
    rows_read bigint NOT NULL,
    rows_loaded bigint NOT NULL,
    rows_rejected bigint NOT NULL,
    duplicates_dropped bigint NOT NULL,
    note text NOT NULL,
    loaded_by text NOT NULL,  -- 'copy' (the fast path), 'row reader' or 'ignored'
    run_id text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ds, kind, file),
    CHECK (rows_read = rows_loaded + rows_rejected + duplicates_dropped)
)
