-- The table of the quoted, qualified name given, or NULL where there is none.
SELECT to_regclass(%s)
