-- A kind's files of the day with rejected rows, most first, each with its first rejected line.
SELECT a.file, a.rows_rejected, a.rows_read,
    (SELECT 'line ' || r.line || ': ' || r.reason FROM {load_rejects} r
     WHERE r.ds = a.ds AND r.kind = a.kind AND r.file = a.file ORDER BY r.line LIMIT 1)
FROM {load_audit} a
WHERE a.ds = %(day)s AND a.kind = %(kind)s AND a.rows_rejected > 0
ORDER BY a.rows_rejected DESC, a.file
