-- The swap: the day's old partition dropped, the new one renamed (its primary key too) and attached,
-- in the load's transaction: readers see the old day or the new day, never a mix.
DROP TABLE IF EXISTS {old};
ALTER TABLE {new} RENAME TO {name};
ALTER INDEX {new_key} RENAME TO {key_name};
ALTER TABLE {table} ATTACH PARTITION {old} FOR VALUES IN (%(ds)s)
