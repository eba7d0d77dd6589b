-- The password of a role, given as a SCRAM verifier: no statement the server could log holds the password.
ALTER ROLE {role} PASSWORD %s
