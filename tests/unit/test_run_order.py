"""Which tests a session runs, and where its stack keeps its state (tests/run_order.py)."""

from types import SimpleNamespace

import pytest

from tests import run_order

BACKFILL = ["tests/e2e/test_backfill.py::test_c", "tests/e2e/test_backfill.py::test_d"]
SESSION = ["tests/dags/test_policy.py::test_a", "tests/db/test_load.py::test_b", *BACKFILL,
           "tests/e2e/test_celery.py::test_e", "tests/e2e/test_pipeline.py::test_f[local]",
           "tests/e2e/test_ui.py::test_g", "tests/unit/test_sql.py::test_h"]


def session(environ: dict, monkeypatch) -> tuple[list[str], list[str], str]:
    """The node ids the session runs, those it deselects, and its stack's folder."""
    monkeypatch.delenv(run_order.BACKFILL_ORDER, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    deselected = []
    config = SimpleNamespace(hook=SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items)))
    items = [SimpleNamespace(nodeid=nodeid) for nodeid in SESSION]
    run_order.pytest_collection_modifyitems(config, items)
    return [item.nodeid for item in items], [item.nodeid for item in deselected], run_order.state_folder()


def test_by_default_every_test_runs_in_the_collected_order(monkeypatch):
    assert session({}, monkeypatch) == (SESSION, [], "e2e")


def test_without_leaves_the_backfills_tests_to_another_session(monkeypatch):
    others = [nodeid for nodeid in SESSION if nodeid not in BACKFILL]
    assert session({run_order.BACKFILL_ORDER: "without"}, monkeypatch) == (others, BACKFILL, "e2e")


def test_only_runs_the_backfills_tests_on_a_stack_of_their_own(monkeypatch):
    others = [nodeid for nodeid in SESSION if nodeid not in BACKFILL]
    assert session({run_order.BACKFILL_ORDER: "only"}, monkeypatch) == (BACKFILL, others, "e2e-backfill")


def test_an_unknown_value_is_a_usage_error_naming_it(monkeypatch):
    with pytest.raises(pytest.UsageError, match="FINANCE_TEST_BACKFILL='last'"):
        session({run_order.BACKFILL_ORDER: "last"}, monkeypatch)
