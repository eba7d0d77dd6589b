"""Test settings, applied before Airflow is imported. Under `astro dev pytest` the image's own
AIRFLOW_HOME and DAG folder are kept; on a bare machine tests get a private AIRFLOW_HOME."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".local" / "pytest-airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES", "airflow.* astro.*")
os.environ.setdefault("AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY", "True")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
