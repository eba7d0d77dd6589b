-- The day's input files per kind: how many, and what their rows became (load_audit's figures).
SELECT kind,
       count(*) AS files,
       sum(rows_read)::bigint AS rows_read,
       sum(rows_loaded)::bigint AS rows_loaded,
       sum(rows_rejected)::bigint AS rows_rejected,
       sum(duplicates_dropped)::bigint AS duplicates_dropped,
       max(run_id) AS run_id,
       max(loaded_at) AS loaded_at
FROM {load_audit}
WHERE ds = %(ds)s
GROUP BY kind
ORDER BY kind
