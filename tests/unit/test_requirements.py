"""One lock: the image's pins (requirements.txt, the Dockerfile's base image and its Astro SDK step) and
the local pins agree with requirements.lock. What the runtime image itself ships can only be read from
the image (README: what only Docker can check); the versions recorded below are the ones with a source."""

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.editions import edition_only
from include.finance.config import PROJECT_ROOT

# Astro Runtime major -> the Python of its images without a -python-X.Y suffix. Source: astronomer/astro-cli
# airflow/standalone.go, af2RuntimePythonDefaults ("13": "3.12"; the runtime catalog carries none for Airflow 2).
RUNTIME_DEFAULT_PYTHON = {"12": "3.12", "13": "3.12"}
# Astro Runtime tag -> packages it ships, as far as a source records them (tests/unit/test_project_files.py,
# RUNTIME_AIRFLOW, has the sources of the Airflow versions). Fill in from the image:
# docker run --rm quay.io/astronomer/astro-runtime:<tag> pip freeze
RUNTIME_PACKAGES = {
    "13.4.0": {"apache-airflow": "2.11.0"},
    "13.11.0": {"apache-airflow": "2.11.2"},
}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#;]+)", line.strip())
        if match:
            found[canonicalize_name(match.group(1))] = match.group(3)
    return found


def base_image() -> tuple[str, str | None]:
    """The runtime version of the Dockerfile's FROM tag and its -python-X.Y suffix, if any."""
    image = re.search(r"^FROM\s+\S+:(\S+)", (PROJECT_ROOT / "Dockerfile").read_text(), re.M).group(1)
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-python-(\d+\.\d+))?", image)
    assert match, f"unexpected runtime tag {image!r}"
    return match.group(1), match.group(2)


def overridden() -> set[str]:
    lines = (PROJECT_ROOT / "overrides.txt").read_text().splitlines()
    return {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}


def test_image_pins_match_the_lock():
    lock, image = pins(PROJECT_ROOT / "requirements.lock"), pins(PROJECT_ROOT / "requirements.txt")
    assert image, "requirements.txt pins nothing"
    assert {name: lock.get(name) for name in image} == image


def test_local_pins_match_the_lock():
    lock, local = pins(PROJECT_ROOT / "requirements.lock"), pins(PROJECT_ROOT / "requirements-local.in")
    assert local["apache-airflow"] == "2.11.2"
    assert {name: lock.get(name) for name in local} == local


def test_the_lock_pins_everything():
    lines = [l for l in (PROJECT_ROOT / "requirements.lock").read_text().splitlines() if l and not l.lstrip().startswith("#")]
    assert len(lines) > 200 and all("==" in l for l in lines)
    assert int(pins(PROJECT_ROOT / "requirements.lock")["pyarrow"].split(".")[0]) < 26  # pyarrow 26 needs numpy 2 (STACK.md)


def test_the_lock_is_resolved_for_the_images_python():
    version, suffix = base_image()
    image_python = suffix or RUNTIME_DEFAULT_PYTHON[version.split(".")[0]]
    lock_python = re.search(r"--python-version (\S+)", (PROJECT_ROOT / "Makefile").read_text()).group(1)
    assert image_python == lock_python, f"the image runs Python {image_python}, the lock is resolved for {lock_python}"


def test_no_pin_contradicts_what_the_runtime_ships():
    """A package the runtime ships is never downgraded by requirements.txt, and the lock has the
    runtime's version of what the image does not reinstall (Airflow itself)."""
    version, _ = base_image()
    shipped = {canonicalize_name(name): v for name, v in RUNTIME_PACKAGES[version].items()}
    lock, image = pins(PROJECT_ROOT / "requirements.lock"), pins(PROJECT_ROOT / "requirements.txt")
    downgrades = {name: (image[name], v) for name, v in shipped.items() if name in image and Version(image[name]) < Version(v)}
    assert downgrades == {}
    assert {name: lock.get(name) for name in shipped if name not in image} == {
        name: v for name, v in shipped.items() if name not in image}


def test_the_image_installs_the_locked_astro_sdk_and_pins_its_other_dependencies():
    """The Dockerfile installs the lock's astro-sdk-python with --no-deps (its Flask-Session cap would
    downgrade Airflow's): every other dependency of it is pinned in requirements.txt (or comes with
    Airflow) at a version it accepts, and each cap overrides.txt lifts is really contradicted by the lock."""
    lock, image = pins(PROJECT_ROOT / "requirements.lock"), pins(PROJECT_ROOT / "requirements.txt")
    step = re.search(r"pip install --no-cache-dir --no-deps astro-sdk-python==(\S+)", (PROJECT_ROOT / "Dockerfile").read_text())
    assert step and step.group(1) == lock["astro-sdk-python"]
    assert "astro-sdk-python" not in image
    try:
        requires = importlib.metadata.requires("astro-sdk-python")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(edition_only("astro-sdk-python is not installed in this environment (the Airflow 3 edition's lock "
                                  "has no Astro SDK)"))
    with_airflow = {canonicalize_name(Requirement(r).name) for r in importlib.metadata.requires("apache-airflow")}
    needed = [r for r in map(Requirement, requires)
              if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in ("amazon", "postgres"))]
    assert {"pandas", "smart-open", "s3fs", "flask-session"} <= {canonicalize_name(r.name) for r in needed}
    for requirement in needed:
        name = canonicalize_name(requirement.name)
        if name in overridden():
            assert not requirement.specifier.contains(lock[name]), f"{requirement}: the override is not needed"
            continue
        assert name in image or name in with_airflow, f"{requirement} is neither in requirements.txt nor Airflow's"
        assert requirement.specifier.contains(lock[name]), f"{requirement}: the lock has {lock[name]}"


# --- the Airflow 3 edition: airflow3/requirements.txt, airflow3/Dockerfile, requirements-airflow3.lock -----------

AIRFLOW3_LOCK = PROJECT_ROOT / "requirements-airflow3.lock"


def test_the_airflow3_editions_pins_match_its_lock():
    lock = pins(AIRFLOW3_LOCK)
    for source in (PROJECT_ROOT / "airflow3" / "requirements.txt", PROJECT_ROOT / "requirements-airflow3.in"):
        pinned = pins(source)
        assert pinned and {name: lock.get(name) for name in pinned} == pinned, source.name
    assert lock["apache-airflow"].startswith("3.") and "astro-sdk-python" not in lock
    assert "pyarrow" in pins(PROJECT_ROOT / "airflow3" / "requirements.txt")  # Airflow 3's XCom of DataFrames needs it


def test_the_airflow3_lock_serves_the_local_python_and_the_images_with_one_version_of_each_package():
    """Runtime 3.3 has no Python 3.11 image: the lock is resolved for 3.11 and later at once (uv --universal),
    and no package the image's Python 3.12 installs differs from what the local 3.11 venv has."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK_IN := --universal requirements-airflow3.in$", makefile, re.M)
    image_python = re.search(r"^FROM \S+-python-(\d+\.\d+)$", (PROJECT_ROOT / "airflow3" / "Dockerfile").read_text(), re.M).group(1)
    assert Version(image_python) > Version("3.11")
    names = [canonicalize_name(line.split("==")[0]) for line in AIRFLOW3_LOCK.read_text().splitlines()
             if "==" in line and not line.lstrip().startswith("#")]
    assert len(names) > 200 and len(names) == len(set(names)), "a package pinned at two versions (per Python)"
