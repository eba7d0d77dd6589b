"""Test settings, applied before Airflow is imported. Under `astro dev pytest` the image's own
AIRFLOW_HOME and DAG folder are kept; on a bare machine tests get a private AIRFLOW_HOME, one per edition
(the venv's Airflow: make test AIRFLOW=3 tests the Airflow 3 edition, airflow3/dags)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from include.finance.edition import AIRFLOW_3  # noqa: E402 (no Airflow import: its settings come first)

if not AIRFLOW_3:
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".local" / "pytest-airflow"))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES", "airflow.* astro.*")
    os.environ.setdefault("AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY", "True")
else:
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".local" / "airflow3" / "pytest-airflow"))
    # airflow3/dags in this repository; dags/ in the edition's own Astro project (make astro-project AIRFLOW=3),
    # where airflow3/dags is dags/ and `astro dev parse` copies the project's dags/ into the image.
    edition_dags = ROOT / "airflow3" / "dags"
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(edition_dags if edition_dags.is_dir() else ROOT / "dags"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

# Under CI=true a database or end-to-end test may not skip for a missing service (tests/ci_skips.py); at the end
# of a session, the minutes per layer (tests/layer_times.py); the backfill first or last (tests/run_order.py).
pytest_plugins = ("tests.ci_skips", "tests.layer_times", "tests.run_order")
