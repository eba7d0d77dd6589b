"""When the four-day backfill runs in an end-to-end session: first (the default, its tests' file is the first of
tests/e2e), or, with FINANCE_TEST_BACKFILL=last in the environment, at the end of the session, after every other
test (the unit layer included).

`.ci/run` runs the two editions' end-to-end sessions side by side on two cores (their unit layers in sessions
of their own) and sets it for one of them. The backfill keeps both cores busy (four days of training), while the
LocalExecutor run waits for much of its time (an S3 outage, a hung scheduler's restart, the runs of the stopping
and gate days one after the other): run in the same order, the two sessions' backfills share the cores and later
both sessions mostly wait; in opposite orders each session's backfill runs while the other waits. At the very
end, the longer session's last minutes are its backfill, which uses both cores once the other session has ended.
Each run starts its stack from fresh metadata and its tests read what it recorded or what it left in the
database right after it, so the order changes no result. The root conftest.py loads this plugin."""

from __future__ import annotations

import os

import pytest

BACKFILL_ORDER = "FINANCE_TEST_BACKFILL"
BACKFILL_TESTS = "tests/e2e/test_backfill.py::"


def backfill_last(items: list) -> list:
    """The items with the backfill's moved to the end."""
    return [item for item in items if not item.nodeid.startswith(BACKFILL_TESTS)] + [
        item for item in items if item.nodeid.startswith(BACKFILL_TESTS)]


@pytest.hookimpl(trylast=True)  # after pytest's own grouping of the tests by their parametrised fixtures
def pytest_collection_modifyitems(items: list) -> None:
    order = os.environ.get(BACKFILL_ORDER, "first")
    if order not in ("first", "last"):
        raise pytest.UsageError(f"{BACKFILL_ORDER}={order!r}: expected 'first' or 'last'")
    if order == "last":
        items[:] = backfill_last(items)
