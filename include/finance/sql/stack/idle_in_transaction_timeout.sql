-- For the sessions opened after this: a session idle in a transaction longer than this is ended.
ALTER DATABASE {database} SET idle_in_transaction_session_timeout = {timeout}
