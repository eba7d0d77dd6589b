SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s
