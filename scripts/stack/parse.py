"""`make parse`: does every DAG file import? Airflow's DagBag of a folder, as `astro dev parse` checks it,
in a process of its own with a throwaway AIRFLOW_HOME (no stack, no metadata database needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .airflow import dag_env

# Run by `parse` in a fresh interpreter, so that Airflow reads the environment given to it.
DAGBAG = """
import json, sys
from include.finance.edition import DagBag
bag = DagBag(dag_folder=sys.argv[1])  # the examples are off ([core] load_examples)
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": bag.import_errors}))
"""


def parse(folder: Path) -> dict:
    """{"dags": the DAG ids found in `folder`, "errors": {file: traceback} of the files that failed to import}."""
    with tempfile.TemporaryDirectory(prefix="parse-airflow-home-") as home:
        proc = subprocess.run([sys.executable, "-c", DAGBAG, str(folder)], env=dag_env(Path(home)),
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"parsing {folder} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(found: dict) -> str:
    if found["errors"]:
        return "\n".join(f"import error in {file}:\n{trace}" for file, trace in sorted(found["errors"].items()))
    return f"{len(found['dags'])} DAGs parsed without errors: {', '.join(found['dags'])}"
