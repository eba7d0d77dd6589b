-- The day's input files, one row each, with how each was loaded.
SELECT kind, file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, loaded_by, note
FROM {load_audit}
WHERE ds = %(ds)s
ORDER BY kind, file
