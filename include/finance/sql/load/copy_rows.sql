-- Rows as CSV text (no header), from a buffer the load fills.
COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)
