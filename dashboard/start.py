"""Start the dashboard of the compose file: its read-only login first (made where missing, its password from
DASHBOARD_DB_PASSWORD; `schema.ensure_reader_login`, as the local stack does in scripts/stack/dashboard.py), then
`streamlit run dashboard/app.py` with the arguments given."""

import os
import sys

import psycopg2

from include.finance import schema
from include.finance.config import settings

conn = psycopg2.connect(os.environ["DASHBOARD_ADMIN_DB_URI"])  # the Postgres server, as a superuser
conn.autocommit = True
with conn.cursor() as cur:
    schema.ensure_reader_login(cur, os.environ["DASHBOARD_DB_USER"], os.environ["DASHBOARD_DB_PASSWORD"],
                               settings.db_reader_role)
conn.close()
os.execvp(sys.executable, [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", *sys.argv[1:]])
