-- A whole file as it is (the fast path): empty known columns are NULL (FORCE_NULL), the other
-- columns go into text columns dropped before the swap.
COPY {new} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true, FORCE_NULL ({known}))
