"""The minutes per layer a test session prints at its end (tests/layer_times.py)."""

from types import SimpleNamespace

from tests import layer_times


def test_each_layer_sums_its_tests_setup_call_and_teardown(monkeypatch):
    monkeypatch.setattr(layer_times, "SECONDS", layer_times.defaultdict(float))
    for nodeid, duration in (("tests/e2e/test_ui.py::test_a", 600.0), ("tests/e2e/test_ui.py::test_a", 30.0),
                             ("tests/unit/test_sql.py::test_b[x]", 6.0), ("tests/db/sub/test_c.py::test_c", 60.0)):
        layer_times.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=duration))
    assert dict(layer_times.SECONDS) == {"tests/e2e": 630.0, "tests/unit": 6.0, "tests/db": 60.0}
    assert layer_times.summary(layer_times.SECONDS, 720.0) == (
        "minutes per layer: tests/db 1.0, tests/e2e 10.5, tests/unit 0.1; the session 12.0")


def test_the_summary_is_printed_at_the_sessions_end(monkeypatch):
    monkeypatch.setattr(layer_times, "SECONDS", {"tests/unit": 90.0})
    lines = []
    layer_times.pytest_terminal_summary(SimpleNamespace(write_line=lines.append))
    assert lines and lines[0].startswith("minutes per layer: tests/unit 1.5; the session ")
