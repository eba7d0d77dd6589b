ALTER TABLE {new} ADD CONSTRAINT {index} {key}
