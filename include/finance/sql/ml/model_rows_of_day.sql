-- The day's customers with the model's features, in key order (read chunk by chunk).
SELECT {columns} FROM {table} WHERE ds = %s ORDER BY {key}
