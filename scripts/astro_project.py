"""`make astro-project AIRFLOW=3`: the Airflow 3 edition as an Astro project of its own, in build/airflow3/.

The Astro CLI builds `./Dockerfile` with the project folder as its context, and the runtime's ONBUILD steps
install `./requirements.txt` (astro-cli has no option for another Dockerfile). So the edition gets a folder
where it is the project: every file of this repository (those git tracks or would track), with
airflow3/dags as dags/ (and nowhere else: the tests' conftest.py then finds the edition's DAGs in dags/, the
folder `astro dev parse` copies into the image), airflow3/Dockerfile as Dockerfile, airflow3/requirements.txt
as requirements.txt, airflow3/.astro/test_dag_integrity_default.py as .astro/test_dag_integrity_default.py (the
DAG integrity test `astro dev parse` and `astro deploy` run: the CLI's template calls DagBag(include_examples=...),
which Airflow 3.3 refuses) and its own project name (its containers and volumes are not the default edition's).
Run `astro dev start`, `astro dev parse`, `astro dev pytest` or `astro deploy` in that folder. It is written
again from scratch every time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "build" / "airflow3"
EDITION = ROOT / "airflow3"
REPLACED = {"Dockerfile": EDITION / "Dockerfile", "requirements.txt": EDITION / "requirements.txt",
            ".astro/test_dag_integrity_default.py": EDITION / ".astro" / "test_dag_integrity_default.py"}
# Copied to their places above (dags/, .astro/), not a second time under airflow3/.
MOVED = ("airflow3/dags/", "airflow3/.astro/")
PROJECT_NAME = "finance-elt-ml-airflow3"  # .astro/config.yaml's: the CLI names containers and volumes after it


def project_files() -> list[str]:
    """The repository's files as git sees them (tracked, or new and not ignored): no venv, state or secrets."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"astro-project: needs a git checkout of the project ({out.stderr.strip()})")
    return sorted(name for name in out.stdout.split("\0") if name and (ROOT / name).is_file())


def write(target: Path = TARGET) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    for name in project_files():
        if name.startswith(("dags/", "build/", *MOVED)) or name in REPLACED:
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    for name, source in REPLACED.items():
        shutil.copy2(source, target / name)
    shutil.copytree(EDITION / "dags", target / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    config = target / ".astro" / "config.yaml"
    config.write_text(config.read_text().replace("name: finance-elt-ml\n", f"name: {PROJECT_NAME}\n"))
    return target


if __name__ == "__main__":
    written = write()
    print(f"astro-project: the Airflow 3 edition's Astro project is in {written.relative_to(ROOT)}/: "
          "cd there and run astro dev start (astro dev pytest, astro deploy)", file=sys.stderr)
