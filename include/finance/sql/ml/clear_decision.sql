-- The run's decision of a day (a retry replaces it).
DELETE FROM {table} WHERE ds = %s AND run_id = %s
