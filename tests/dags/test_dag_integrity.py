"""The DAG integrity test the Astro CLI runs before a deploy (`.astro/test_dag_integrity_default.py`: `astro dev
parse`, and `astro deploy` unless told not to), run the way the CLI runs it, on a copy of the edition's Astro
project: this repository for the default edition, the folder `make astro-project AIRFLOW=3` writes for the
Airflow 3 edition (whose copy of the test is airflow3/.astro/test_dag_integrity_default.py: the CLI's template
calls DagBag(include_examples=False), which Airflow 3.3 refuses).

How the CLI runs it (astro-cli v1.45.0: `DockerCompose.Parse` and `DockerCompose.Pytest` in airflow/docker.go,
`DockerImage.Pytest` in airflow/docker_image.go): `docker create -i --name astro-pytest [--env-file .env] <the
project's image> pytest .astro/test_dag_integrity_default.py`, no other argument; then it copies the project's
dags/, tests/, plugins/, include/ and .astro/ into /usr/local/airflow/ and starts the container. So pytest runs
in the image's working folder /usr/local/airflow, its AIRFLOW_HOME, which holds the whole project (the
runtime's ONBUILD step copies it there, pytest.ini and conftest.py included), with the image's environment: the
runtime's AIRFLOW_HOME and PYTHONPATH (both that folder: astro-cli's airflow/standalone.go mirrors it), the
project Dockerfile's ENV lines, and `.env` if the project has one. Here: the venv's `pytest` in the copy, with
AIRFLOW_HOME and PYTHONPATH set to it, the Dockerfile's ENV and nothing else of this process's environment; no
`.env` (git-ignored: a fresh checkout, as CI deploys from, has none).
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import astro_project
from tests.editions import AIRFLOW_3, edition_only
from include.finance.config import DAG_IDS, PROJECT_ROOT

INTEGRITY_TEST = ".astro/test_dag_integrity_default.py"  # the path the CLI passes, relative to AIRFLOW_HOME

pytestmark = pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="copies the edition's Astro project from a git "
                                "checkout; the image has none (there `astro dev parse` runs the integrity test itself)")


def write_project(target: Path) -> Path:
    """The edition's Astro project, as the CLI builds its image from it."""
    if AIRFLOW_3:
        return astro_project.write(target)
    for name in astro_project.project_files():
        if not name.startswith("build/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, target / name)
    return target


def image_env(project: Path, home: Path) -> dict[str, str]:
    """The environment the CLI's pytest container has, as far as the project decides it."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
           "AIRFLOW_HOME": str(project), "PYTHONPATH": str(project)}
    for line in (project / "Dockerfile").read_text().splitlines():
        if line.strip().upper().startswith("ENV "):
            env.update(item.partition("=")[::2] for item in shlex.split(line.strip()[4:]))
    return env


def run_integrity_test(project: Path, test_file: str = INTEGRITY_TEST) -> subprocess.CompletedProcess:
    home = project.parent / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run([str(Path(sys.executable).parent / "pytest"), test_file], cwd=project,
                          env=image_env(project, home), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("astro-project") / "airflow")


def test_the_integrity_test_passes_as_the_astro_cli_runs_it(project):
    if AIRFLOW_3:
        assert (project / INTEGRITY_TEST).read_text() == (PROJECT_ROOT / "airflow3" / INTEGRITY_TEST).read_text()
        assert not (project / "airflow3" / "dags").exists()  # the edition's DAGs are dags/ there, and only there
    out = run_integrity_test(project)
    summary = out.stdout.splitlines()[-1] if out.stdout else ""
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert f" {len(DAG_IDS)} passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_the_integrity_test_fails_on_a_broken_dag_file(project):
    broken = project / "dags" / "finance_ml.py"
    text = broken.read_text()
    broken.write_text(text + "\nraise RuntimeError('finance_ml broken on purpose')\n")
    try:
        out = run_integrity_test(project)
    finally:
        broken.write_text(text)
    assert out.returncode == 1, (out.stdout + out.stderr)[-4000:]
    assert f"FAILED {INTEGRITY_TEST}::test_file_imports[dags/finance_ml.py]" in out.stdout, out.stdout[-4000:]
    assert "finance_ml broken on purpose" in out.stdout


@pytest.mark.skipif(not AIRFLOW_3, reason=edition_only("the Airflow 3 edition's: the default edition runs the CLI's "
                                                       "template itself"))
def test_the_cli_template_is_refused_by_airflow_3(project):
    """Why the Airflow 3 edition carries its own copy: the template this repository's root ships (the CLI's, which
    its Airflow 3 template matches on this point) fails in that edition's project before it parses a DAG."""
    template = project / ".astro" / "test_cli_template.py"
    shutil.copy2(PROJECT_ROOT / INTEGRITY_TEST, template)
    try:
        out = run_integrity_test(project, str(template.relative_to(project)))
    finally:
        template.unlink()
    assert out.returncode != 0
    assert "unexpected keyword argument 'include_examples'" in out.stdout + out.stderr, (out.stdout + out.stderr)[-4000:]
