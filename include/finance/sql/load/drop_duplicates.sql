-- Where a key occurs more than once, every row but the first by file and line is deleted; the files
-- of the rows deleted are returned (the audit's duplicates_dropped).
DELETE FROM {new} WHERE ctid IN (
    SELECT ctid FROM (
        SELECT ctid, row_number() OVER (PARTITION BY {key} ORDER BY source_file, source_line) AS n
        FROM {new}
        WHERE {key} IN (SELECT {key} FROM {new} GROUP BY {key} HAVING count(*) > 1)
    ) d
    WHERE n > 1)
RETURNING source_file
