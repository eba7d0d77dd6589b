DELETE FROM {table} WHERE ds = %s AND kind = %s
