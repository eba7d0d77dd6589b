-- A plain table of a raw table's columns, for psql's \copy of the files (the benchmark's baseline).
CREATE TABLE {copy} (LIKE {table});
ALTER TABLE {copy} DROP COLUMN ds, DROP COLUMN source_file, DROP COLUMN source_line
