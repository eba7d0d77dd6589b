"""Settings of Airflow's metadata database on the stack's PostgreSQL server (the e2e runs check the copy
`fresh_metadata` makes of its template: tests/e2e/test_scheduler_hang.py)."""

import psycopg2
import pytest

from scripts.stack.postgres import METADATA_DB, METADATA_IDLE_IN_TRANSACTION_TIMEOUT

pytestmark = pytest.mark.integration


def _setting(stack, database: str) -> str:
    with psycopg2.connect(stack.db_uri(database)) as conn, conn.cursor() as cur:
        cur.execute("SHOW idle_in_transaction_session_timeout")
        value = cur.fetchone()[0]
    conn.close()
    return value


def test_the_metadata_database_ends_sessions_idle_in_a_transaction_and_only_it(stack):
    assert METADATA_IDLE_IN_TRANSACTION_TIMEOUT == "60s"
    assert _setting(stack, METADATA_DB) == "1min"
    assert _setting(stack, "finance") == "0"  # the pipeline's own transactions may wait on Python longer

