-- A text column for a file's column the contract does not know (dropped before the swap).
ALTER TABLE {new} ADD COLUMN {column} text
