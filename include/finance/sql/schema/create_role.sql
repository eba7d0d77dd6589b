-- A group role: the read-only role the dashboard's login is a member of.
CREATE ROLE {role} NOLOGIN
