-- A transform's result as a table (replaced), in the transform's transaction.
CREATE TABLE {table} AS
{query}
