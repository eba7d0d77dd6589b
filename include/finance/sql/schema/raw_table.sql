-- A contract's raw table, partitioned by day, with the contract's columns and primary key (the key
-- before ds: building a day's index then sorts on the key's text, not first on a date that is the same
-- in the whole partition). Each row names the file and line it came from.
CREATE TABLE IF NOT EXISTS {table} (ds date NOT NULL, {columns},
    source_file text NOT NULL, source_line integer NOT NULL, {key})
PARTITION BY LIST (ds)
