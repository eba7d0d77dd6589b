-- A kind's files of the day in load_audit (with rowless true, only those that loaded no row).
SELECT file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, note, loaded_by
FROM {load_audit}
WHERE ds = %(day)s AND kind = %(kind)s AND (NOT %(rowless)s OR rows_loaded = 0)
ORDER BY file
