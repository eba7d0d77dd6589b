-- The rejected rows of the load's files, as they are found (copied into load_rejects at the end).
CREATE TEMP TABLE stage_rejects (file text, line integer, reason text, raw_line text) ON COMMIT DROP
