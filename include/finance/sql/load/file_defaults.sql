-- Before a file's COPY: its rows name the file and are numbered from line 2 (after the header).
ALTER TABLE {new} ALTER COLUMN source_file SET DEFAULT {file}, ALTER COLUMN source_line RESTART WITH 2
