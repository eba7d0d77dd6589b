"""The Airflow 3 edition is clean under ruff's Airflow rules (AIR: names removed or moved in Airflow 3), as
docs/airflow3.md says; the default edition's DAGs are not, which shows the rules look where they should."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editions import AIRFLOW_3, edition_only

ROOT = Path(__file__).resolve().parents[2]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent))


def air(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, "check", "--no-cache", "--select", "AIR", "--preview", "--output-format", "concise",
                           *paths], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.skipif(RUFF is None and not AIRFLOW_3, reason=edition_only("ruff is a tool of the Airflow 3 edition's lock: "
                                                                        "make test AIRFLOW=3 runs this"))
def test_the_airflow3_edition_and_the_shared_core_pass_ruffs_airflow_3_rules():
    assert RUFF, "ruff is missing from the Airflow 3 edition's venv (requirements-airflow3.lock has it): make venv AIRFLOW=3"
    clean = air("airflow3", "include", "scripts")
    assert clean.returncode == 0, clean.stdout[-3000:]
    flagged = air("dags")  # Astro SDK edition: airflow.decorators, airflow.datasets
    assert flagged.returncode == 1 and "airflow3-suggested-update" in flagged.stdout and "airflow.datasets" in flagged.stdout
