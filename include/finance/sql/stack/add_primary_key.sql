ALTER TABLE {table} ADD {key}
