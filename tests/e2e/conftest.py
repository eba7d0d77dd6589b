"""The local services for the integration tests: one private PostgreSQL, and for the pipeline test
the whole stack (moto S3, Airflow scheduler, triggerer, webserver) on free loopback ports."""

import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from stack import Stack, run_pipeline, services_unavailable  # noqa: E402

STATE = ROOT / ".local" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack():
    reason = services_unavailable()
    if reason:
        pytest.skip(f"local services cannot start here: {reason}")
    shutil.rmtree(STATE, ignore_errors=True)
    stack = Stack(
        state_dir=STATE,
        pg_port=free_port(),
        s3_port=free_port(),
        web_port=free_port(),
        extra_env={"MOCK_DATA_DIR": str(STATE / "mock_data"), "PLOTS_DIR": str(STATE / "plots"), "POKE_INTERVAL": "3"},
    )
    stack.start_postgres()
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def pipeline(stack):
    """Unpause the DAGs under a real scheduler and wait for finance_ml, as `make run` does."""
    summary = run_pipeline(stack, timeout=1500, summary_path=STATE / "summary.json")
    stack.start_postgres()  # run_pipeline stops everything; the tests read the tables afterwards
    return summary


@pytest.fixture
def finance_db(stack):
    import psycopg2

    conn = psycopg2.connect(stack.db_uri("finance"))
    yield conn
    conn.close()
