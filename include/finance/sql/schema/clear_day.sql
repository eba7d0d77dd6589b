DELETE FROM {table} WHERE ds = %s
