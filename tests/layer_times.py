"""Where a test session's time goes: at its end, the minutes each layer took (tests/unit, tests/dags, tests/db,
tests/e2e), setup and teardown included, and the session's. A session fixture's setup counts in the layer of
the first test that needs it: the end-to-end pipeline runs count in tests/e2e. CI prints it for each edition;
`--durations` names the slowest steps inside a layer. The root conftest.py loads this plugin."""

from __future__ import annotations

import time
from collections import defaultdict

SECONDS: dict[str, float] = defaultdict(float)
STARTED = time.monotonic()


def layer_of(nodeid: str) -> str:
    """'tests/e2e/test_ui.py::test_x' -> 'tests/e2e'; a test file outside a layer's folder is its own."""
    parts = nodeid.split("::", 1)[0].split("/")
    return "/".join(parts[:2]) if parts[0] == "tests" and len(parts) > 2 else parts[0]


def pytest_runtest_logreport(report) -> None:
    SECONDS[layer_of(report.nodeid)] += report.duration


def summary(seconds: dict[str, float], session: float) -> str:
    layers = ", ".join(f"{layer} {spent / 60:.1f}" for layer, spent in sorted(seconds.items()))
    return f"minutes per layer: {layers}; the session {session / 60:.1f}"


def pytest_terminal_summary(terminalreporter) -> None:
    if SECONDS:
        terminalreporter.write_line(summary(SECONDS, time.monotonic() - STARTED))
