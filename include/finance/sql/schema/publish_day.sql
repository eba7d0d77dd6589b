-- A day of the target replaced by the staging table's rows (the columns by name); the cursor's rowcount
-- after it is the INSERT's.
DELETE FROM {target} WHERE ds = %(ds)s;
INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging} WHERE ds = %(ds)s
