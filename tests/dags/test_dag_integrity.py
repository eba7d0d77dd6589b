"""The Astro CLI's DAG integrity test (`.astro/test_dag_integrity_default.py`, what `astro dev parse`
runs), in a pytest process of its own: it patches `os.getenv` and `BaseHook.get_connection` for the
whole session it runs in, which must not leak into the other tests."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.editions import AIRFLOW_3, edition_only

ROOT = Path(__file__).resolve().parents[2]
INTEGRITY_TEST = ROOT / ".astro" / "test_dag_integrity_default.py"


@pytest.mark.skipif(AIRFLOW_3, reason=edition_only(
    "the Astro CLI's template (astro-cli as of 2026-08, its Airflow 3 one too) calls DagBag(include_examples=False), "
    "which Airflow 3.3 refuses; test_dag_policy.py parses the edition's DAGs (make parse AIRFLOW=3 too)"))
def test_the_astro_cli_dag_integrity_test_passes_in_its_own_process():
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(INTEGRITY_TEST)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert " passed" in out.stdout.splitlines()[-1] and "failed" not in out.stdout.splitlines()[-1]
