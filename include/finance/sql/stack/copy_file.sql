-- psql's \copy of a file (a meta-command: no semicolon), as the load's COPY of it.
\copy {table} ({columns}) FROM {path} WITH (FORMAT csv, HEADER true, FORCE_NULL ({columns}))
