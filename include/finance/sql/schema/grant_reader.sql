-- The read-only role (DB_READER_ROLE) may read every table of the schema, those made later included (the
-- dashboard's login is a member of it). {schema} and {role} are names.
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role};
