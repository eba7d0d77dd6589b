"""The stack's PostgreSQL password as the server has it (scripts/stack/postgres.py): the state folder's
generated password logs in over TCP and no other does, the server keeps a SCRAM-SHA-256 verifier of it, and
setting it again, as every start does, leaves no trace of it in the server's log even when that log holds
every statement."""

import time
import uuid

import psycopg2
import pytest

from scripts.stack import settings

pytestmark = pytest.mark.integration


def login(stack, password: str):
    """A connection over TCP (pg_hba.conf asks for the password there; the Unix socket is trusted)."""
    return psycopg2.connect(host=settings.db_host, port=stack.pg_port, user="postgres", password=password,
                            dbname=settings.db_name, connect_timeout=5)


def server_log(stack) -> str:
    return (stack.pg_data / "server.log").read_text(errors="replace")


def test_the_generated_password_logs_in_over_tcp_and_a_wrong_one_does_not(stack):
    password = stack.pg_password
    assert len(password) == 32
    with login(stack, password) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, inet_server_addr()::text, inet_server_port()")
        assert cur.fetchone() == ("postgres", f"{settings.db_host}/32", stack.pg_port)  # TCP, not the socket
    conn.close()
    for wrong in (password[:-1] + ("x" if password[-1] != "x" else "y"), password.upper(), "local-pg-password"):
        with pytest.raises(psycopg2.OperationalError, match='password authentication failed for user "postgres"'):
            login(stack, wrong).close()


def test_the_server_keeps_a_scram_verifier_and_never_logs_the_password(stack):
    (verifier,) = stack.admin("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and stack.pg_password not in verifier

    def logged(marker: str) -> bool:
        stack.admin("SELECT %s", marker)
        return marker in server_log(stack)

    stack.admin("ALTER SYSTEM SET log_statement = 'all'")
    stack.admin("SELECT pg_reload_conf()")
    try:
        deadline, marker = time.monotonic() + 15, f"log-check-{uuid.uuid4()}"
        while not logged(marker):  # the server reads its settings again a moment after it is told to
            assert time.monotonic() < deadline, "the server does not log statements after log_statement = 'all'"
            time.sleep(0.2)
        stack.start_postgres()  # already running: it sets the password again, as every start does
        marker = f"log-check-{uuid.uuid4()}"
        assert logged(marker)
    finally:
        stack.admin("ALTER SYSTEM RESET log_statement")
        stack.admin("SELECT pg_reload_conf()")
    text = server_log(stack)
    leaked = stack.pg_password in text  # not printed: a failure must not put the password into CI's log either
    assert not leaked, f"{stack.pg_data / 'server.log'} holds the password"
    assert "ALTER ROLE \"postgres\" PASSWORD 'SCRAM-SHA-256$4096:" in text  # what the server received: a verifier
    (again,) = stack.admin("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    assert again.startswith("SCRAM-SHA-256$4096:") and again != verifier  # a new salt, the same password
    login(stack, stack.pg_password).close()
