"""The Airflow 3 edition is clean under ruff's Airflow rules (AIR: names removed or moved in Airflow 3), as
docs/airflow3.md says; the default edition's DAGs are not, which shows the rules look where they should."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editions import AIRFLOW_3, edition_only
from include.finance.config import PROJECT_ROOT
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent))


# The Astro CLI's DAG integrity test: its Airflow 3 template as the CLI ships it, but for the one line Airflow 3.3
# refuses (test_project_files.py checks that), so it keeps the template's imports of Variable, Connection and
# BaseHook from their Airflow 2 homes, where it patches them for DAG files that still import them from there.
CLI_TEMPLATE = "airflow3/.astro/test_dag_integrity_default.py"


def air(*paths: str, exclude: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    excludes = [arg for path in exclude for arg in ("--extend-exclude", path)]
    return subprocess.run([RUFF, "check", "--no-cache", "--select", "AIR", "--preview", "--output-format", "concise",
                           *excludes, *paths], cwd=PROJECT_ROOT, capture_output=True, text=True)


@pytest.mark.skipif(RUFF is None and not AIRFLOW_3, reason=edition_only("ruff is a tool of the Airflow 3 edition's lock: "
                                                                        "make test AIRFLOW=3 runs this"))
def test_the_airflow3_edition_and_the_shared_core_pass_ruffs_airflow_3_rules():
    assert RUFF, "ruff is missing from the Airflow 3 edition's venv (requirements-airflow3.lock has it): make venv AIRFLOW=3"
    clean = air("airflow3", "include", "scripts", exclude=(CLI_TEMPLATE,))
    assert clean.returncode == 0, clean.stdout[-3000:]
    template = air(CLI_TEMPLATE)
    assert template.returncode == 1 and {line.split(": ", 2)[1] for line in template.stdout.splitlines() if
                                         line.startswith(CLI_TEMPLATE)} <= {"airflow3-suggested-update", "airflow31-moved"}
    flagged = air("dags")  # Astro SDK edition: airflow.decorators, airflow.datasets
    assert flagged.returncode == 1 and "airflow3-suggested-update" in flagged.stdout and "airflow.datasets" in flagged.stdout
