"""The CI skip rule (tests/ci_skips.py) on generated tests, in a pytest process of its own with the rule's
plugin: under CI=true a database or end-to-end test that skips for a missing service fails the run, its
reason printed; without CI it stays a skip; a skip of the other edition's test (tests.editions.edition_only)
stays a skip either way, as does any skip outside those layers."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from include.finance.config import PROJECT_ROOT
MISSING = "moto_server not installed in this Python environment (a stand-in reason)"

GENERATED = {
    "tests/db/test_db_layer.py": f'''
import pytest

from tests.editions import ASTRO_SDK_ONLY, edition_only


@pytest.fixture(scope="session")
def service():
    pytest.skip("local services cannot start here: {MISSING}")


def test_needs_the_service(service):
    pass


def test_needs_the_service_too(service):
    pass


@pytest.mark.skipif(True, reason=edition_only("the other edition's table"))
def test_of_the_other_edition():
    pass


@pytest.mark.skipif(True, reason=ASTRO_SDK_ONLY)
def test_of_the_astro_sdk_edition():
    pass


@pytest.mark.xfail(reason="a known failure, not a skip")
def test_known_to_fail():
    assert False


def test_that_runs():
    pass
''',
    "tests/e2e/test_browser_layer.py": '''
import pytest


def test_in_the_browser():
    pytest.skip("no browser here: chromium not found")
''',
    "tests/e2e/test_module_layer.py": '''
import pytest

pytest.importorskip("no_such_module_for_the_ci_rule", reason="its driver is not installed")


def test_never_collected():
    pass
''',
    "tests/unit/test_unit_layer.py": '''
import pytest


def test_a_unit_test_may_skip():
    pytest.skip("a unit test's own reason")
''',
}


def run_generated(tmp_path: Path, ci: str | None) -> tuple[int, str, dict[str, str]]:
    """pytest with the rule's plugin on the generated tests: its exit code, output and each test's outcome."""
    for name, text in GENERATED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the rootdir: not the repository's settings
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    if ci is not None:
        env["CI"] = ci
    report = tmp_path / f"report-{ci}.xml"
    # a module that fails to collect stops a run before its tests; here the other files' tests run on
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.ci_skips", "-p", "no:cacheprovider", "-rA",
                           "--continue-on-collection-errors", f"--junitxml={report}", "tests"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("skipped", "error", "failure")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return proc.returncode, proc.stdout + proc.stderr, outcomes


def test_the_repositorys_pytest_settings_load_the_rule(request):
    assert request.config.pluginmanager.has_plugin("tests.ci_skips")


def test_under_ci_a_db_or_e2e_skip_fails_with_its_reason_and_an_other_edition_skip_stays_a_skip(tmp_path):
    code, output, outcomes = run_generated(tmp_path, "true")
    assert outcomes == {
        "test_needs_the_service": "error", "test_needs_the_service_too": "error",  # the session fixture's skip
        "test_of_the_other_edition": "skipped", "test_of_the_astro_sdk_edition": "skipped",
        "test_known_to_fail": "skipped",  # junit's word for an xfail
        "test_that_runs": "passed",
        "test_in_the_browser": "failure",  # skipped as it ran
        "tests.e2e.test_module_layer": "error",  # the whole module skipped as it was collected
        "test_a_unit_test_may_skip": "skipped",
    }, output[-4000:]
    assert code == 1, output[-4000:]
    for test, why in [("db/test_db_layer.py::test_needs_the_service", f"db tests must run: local services cannot start"
                                                                       f" here: {MISSING}"),
                      ("db/test_db_layer.py::test_needs_the_service_too", f"db tests must run: local services cannot"
                                                                           f" start here: {MISSING}"),
                      ("e2e/test_browser_layer.py::test_in_the_browser", "e2e tests must run: no browser here: chromium"
                                                                          " not found"),
                      ("e2e/test_module_layer.py", "e2e tests must run: its driver is not installed")]:
        assert f"tests/{test} - skipped under CI=true, where the {why}" in output, output[-4000:]  # the short summary
    assert "edition only: the other edition's table" in output  # the accepted skips are listed as skips


@pytest.mark.parametrize("ci", [None, "false"])
def test_without_ci_every_skip_stays_a_skip(tmp_path, ci):
    code, output, outcomes = run_generated(tmp_path, ci)
    assert code == 0, output[-4000:]
    assert {name for name, outcome in outcomes.items() if outcome != "skipped"} == {"test_that_runs"}, output[-4000:]
    assert f"local services cannot start here: {MISSING}" in output and "no browser here" in output
