-- Every day's monitoring rows up to a day, oldest first: what the monitoring plot draws.
SELECT {columns} FROM {table} WHERE ds <= %s ORDER BY ds, metric, feature
