SELECT max(ds)::text FROM {table}
