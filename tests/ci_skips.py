"""Under CI a layer cannot hide: a database or end-to-end test (tests/db, tests/e2e; the browser test is
tests/e2e/test_ui.py) that skips fails the run instead, its skip reason in the failure. Those tests skip
only when something they need is missing here (PostgreSQL's binaries, moto_server, Redis, Chromium, ...)
or when they belong to the other edition; the latter give a reason made with `tests.editions.edition_only`
and stay skips. Without CI (CI unset, or not true/1/yes) every skip stays a skip: a developer's machine
may lack a service.

Why here and not in .ci/run: only pytest knows which test skipped, in which layer, and why, as it happens;
.ci/run would have to parse pytest's output. The rule runs wherever CI=true is set (.ci/run sets it, as
hosted CI does). `astro dev pytest` passes only the project's .env into its container, so there (no
PostgreSQL, no moto_server in the image) those tests still skip, saying why. The root conftest.py loads this
plugin (`pytest_plugins`); tests/unit/test_ci_skips.py runs pytest on generated tests with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

LAYERS = ("db", "e2e")  # tests/<layer>/: the database and end-to-end (browser included) layers


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def layer_of(path: Path, rootdir: Path) -> str | None:
    """The layer (db, e2e) of a test file under <rootdir>/tests, None for any other test."""
    try:
        parts = Path(path).resolve().relative_to(Path(rootdir).resolve()).parts
    except ValueError:
        return None
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in LAYERS else None


def skip_reason(longrepr) -> str:
    """The reason of a skip report: pytest keeps (file, line, "Skipped: <reason>")."""
    message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return message.removeprefix("Skipped: ")


def forbidden(report, path: Path, rootdir: Path) -> str | None:
    """The failure message for a skip that CI does not accept, None for a skip it does (or no skip)."""
    if not (report.skipped and ci()) or hasattr(report, "wasxfail"):
        return None
    layer = layer_of(path, rootdir)
    if layer is None:
        return None
    from tests.editions import EDITION_ONLY

    reason = skip_reason(report.longrepr)
    if reason.startswith(EDITION_ONLY):
        return None
    return f"skipped under CI={os.environ['CI']}, where the {layer} tests must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    message = forbidden(report, item.path, item.config.rootpath)
    if message:
        report.outcome, report.longrepr = "failed", message


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # a whole module that skips as it is collected (pytest.importorskip, pytest.skip(allow_module_level=True)):
    # a collection error, which stops the run before any test
    outcome = yield
    report = outcome.get_result()
    message = forbidden(report, collector.path, collector.config.rootpath)
    if message:
        report.outcome, report.longrepr = "failed", message
