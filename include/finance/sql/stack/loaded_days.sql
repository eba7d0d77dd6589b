SELECT DISTINCT ds::text FROM {load_audit}
