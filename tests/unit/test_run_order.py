"""Where the backfill's tests, and so its run, go in a session (tests/run_order.py)."""

from types import SimpleNamespace

import pytest

from tests import run_order

SESSION = ["tests/dags/test_policy.py::test_a", "tests/db/test_load.py::test_b",
           "tests/e2e/test_backfill.py::test_c", "tests/e2e/test_backfill.py::test_d",
           "tests/e2e/test_celery.py::test_e", "tests/e2e/test_pipeline.py::test_f[local]",
           "tests/e2e/test_ui.py::test_g", "tests/unit/test_sql.py::test_h"]


def ordered(environ: dict, monkeypatch) -> list[str]:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    items = [SimpleNamespace(nodeid=nodeid) for nodeid in SESSION]
    run_order.pytest_collection_modifyitems(items)
    return [item.nodeid for item in items]


def test_by_default_the_order_is_the_collected_one(monkeypatch):
    monkeypatch.delenv(run_order.BACKFILL_ORDER, raising=False)
    assert ordered({}, monkeypatch) == SESSION


def test_last_moves_the_backfills_tests_to_the_end_of_the_session(monkeypatch):
    assert ordered({run_order.BACKFILL_ORDER: "last"}, monkeypatch) == [
        "tests/dags/test_policy.py::test_a", "tests/db/test_load.py::test_b",
        "tests/e2e/test_celery.py::test_e", "tests/e2e/test_pipeline.py::test_f[local]", "tests/e2e/test_ui.py::test_g",
        "tests/unit/test_sql.py::test_h", "tests/e2e/test_backfill.py::test_c", "tests/e2e/test_backfill.py::test_d"]


def test_an_unknown_order_is_a_usage_error_naming_it(monkeypatch):
    with pytest.raises(pytest.UsageError, match="FINANCE_TEST_BACKFILL='middle'"):
        ordered({run_order.BACKFILL_ORDER: "middle"}, monkeypatch)
