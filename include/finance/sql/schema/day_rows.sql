SELECT count(*) FROM {table} WHERE ds = %s
