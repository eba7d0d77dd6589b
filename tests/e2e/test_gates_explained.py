"""Quality gates that explain themselves, seen through the DAG: on each day of GATE_DAYS (tests/e2e/gate_days.py)
finance_elt stops at the gates the day's rows trip, each after one try, and each gate's task log ends with
what it measured against what it allows, in the data's words: the same message on both editions (the
messages of every gate on small tables: tests/db/test_gate_messages.py)."""

import pytest

from tests.e2e.gate_days import GATE_DAYS, failure_message


@pytest.fixture(scope="module")
def gate_days(local_run) -> dict:
    """What the LocalExecutor run recorded of its gate days (the scenario `gate_days` of conftest.run_local)."""
    return local_run["gate_days"]


@pytest.mark.parametrize("day", list(GATE_DAYS))
def test_a_gate_tripping_day_stops_at_its_gates_after_one_try_saying_what_it_measured(gate_days, day):
    ran, expected = gate_days[day], GATE_DAYS[day]
    assert ran["state"] == "failed", day
    assert {task for task, state in ran["tasks"].items() if state == "failed"} == set(expected["fails"]), ran["tasks"]
    assert all(ran["tasks"][task] == "success" for task in expected["passes"]), ran["tasks"]
    for task, message in expected["fails"].items():
        assert ran["tries"][task] == 1, (task, ran["tries"])  # GateFailed: no second try of the same rows
        log = ran["logs"][task]
        assert "UP_FOR_RETRY" not in log and "up_for_retry" not in log, task
        assert failure_message(log) == message, (task, log[-3000:])
    # the day goes no further: nothing published (finance_ml is not triggered), the teardown still runs
    assert ran["tasks"]["publish_model_satisfaction"] == "upstream_failed", ran["tasks"]
    assert ran["tasks"]["cleanup"] == "success", ran["tasks"]


def test_the_gate_days_leave_no_temporary_table(gate_days):
    assert gate_days["temporary_tables_after"] == []
