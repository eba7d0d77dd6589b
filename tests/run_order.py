"""Which of a session's tests run, from FINANCE_TEST_BACKFILL: every test in the collected order (the default; the
four-day backfill's tests, the first file of tests/e2e, first), every test but the backfill's (`without`: another
session runs them), or the backfill's alone (`only`), whose stack keeps its state in a folder of its own
(`state_folder`), so that the two sessions of one edition can run side by side.

`.ci/run` runs the Astro SDK edition in two such sessions beside the Airflow 3 edition's, three stacks on two cores:
much of an end-to-end run waits (an S3 outage, a hung scheduler's restart, a retry's delay, the runs of the stopping
and gate days one after the other) while the others' work uses the cores. Each run starts its stack from fresh
metadata and its tests read what it recorded or what it left in the database right after it, so neither the order
nor the split changes a result. The root conftest.py loads this plugin."""

from __future__ import annotations

import os

import pytest

BACKFILL_ORDER = "FINANCE_TEST_BACKFILL"
ORDERS = ("first", "without", "only")
BACKFILL_TESTS = "tests/e2e/test_backfill.py::"


def backfill_order() -> str:
    order = os.environ.get(BACKFILL_ORDER, "first")
    if order not in ORDERS:
        raise pytest.UsageError(f"{BACKFILL_ORDER}={order!r}: expected one of {', '.join(ORDERS)}")
    return order


def state_folder() -> str:
    """The end-to-end stack's folder in the edition's .local: its own for the backfill's session."""
    return "e2e-backfill" if backfill_order() == "only" else "e2e"


def arranged(items: list, order: str) -> tuple[list, list]:
    """The items this session runs, and those it leaves to another session."""
    backfill = [item for item in items if item.nodeid.startswith(BACKFILL_TESTS)]
    others = [item for item in items if not item.nodeid.startswith(BACKFILL_TESTS)]
    return {"first": (items, []), "without": (others, backfill), "only": (backfill, others)}[order]


@pytest.hookimpl(trylast=True)  # after pytest's own grouping of the tests by their parametrised fixtures
def pytest_collection_modifyitems(config, items: list) -> None:
    kept, left = arranged(items, backfill_order())
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept
