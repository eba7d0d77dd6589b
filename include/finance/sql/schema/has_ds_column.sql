-- Whether the table has the column ds (an early version's model_satisfaction did not).
SELECT count(*) FROM information_schema.columns
WHERE table_schema = %(schema)s AND table_name = %(table)s AND column_name = 'ds'
