-- What landed in the new partition, per file: the audit's rows_loaded, counted, not derived.
SELECT source_file, count(*) FROM {new} GROUP BY source_file
