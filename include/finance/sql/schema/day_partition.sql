-- The partition of a table (PARTITION BY LIST (ds)) holding one day, created where missing.
CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {table} FOR VALUES IN ({ds})
