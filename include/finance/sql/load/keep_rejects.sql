-- The rejected rows of the load, from its temporary table, into load_rejects.
INSERT INTO {load_rejects} (ds, kind, file, line, reason, raw_line, run_id)
SELECT %s, %s, file, line, reason, raw_line, %s FROM stage_rejects
