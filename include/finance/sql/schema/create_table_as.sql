CREATE TABLE {table} AS
{query}
