-- Rows of a table for the run's summary: the columns or their count, the conditions and the order composed
-- by scripts/stack/summary.py.
SELECT {fields} FROM {table}{where}{order}
