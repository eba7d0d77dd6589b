-- The first rejected lines of the day as they were in their files.
SELECT kind, file, line, reason, raw_line
FROM {load_rejects}
WHERE ds = %(ds)s
ORDER BY kind, file, line
LIMIT %(limit)s
