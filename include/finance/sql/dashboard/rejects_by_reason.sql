-- The day's rejected rows counted by kind, file and reason.
SELECT kind, file, reason, count(*) AS rows
FROM {load_rejects}
WHERE ds = %(ds)s
GROUP BY kind, file, reason
ORDER BY rows DESC, kind, file, reason
