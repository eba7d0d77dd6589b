"""A scheduler that hangs while a run is in flight (SIGSTOPped once a task of the run is running: finance_elt's
load under Celery, finance_ml's training under the LocalExecutor) is restarted by its supervisor, leaves no
process and no open transaction behind, and the run finishes as if nothing happened
(tests/e2e/scheduler_hang.py records it; the summary's counts are checked for both executors' runs by
test_pipeline.py's test_the_summary_accounts_for_every_row_of_every_file)."""

import pytest

from tests.editions import AIRFLOW_3

pytestmark = pytest.mark.integration

IDLE_IN_TRANSACTION_TIMEOUT = 60  # seconds: scripts/stack/postgres.py METADATA_IDLE_IN_TRANSACTION_TIMEOUT
SAMPLING = 5  # seconds the sampling of pg_stat_activity may lag behind the server's own clock


def test_the_supervisor_restarted_the_hung_scheduler_once(run):
    """The supervisor's first restart after the hang is for the hang ("used no CPU time"), and it is the one
    restart that stops the hung scheduler (its PID in the supervisor's "stopping ...: PIDs" line)."""
    hang = run["hang"]
    assert hang, "no task of the run was seen running: the scheduler never hung"
    lines, hung_pid = hang["supervisor"], str(hang["tree"][0]["pid"])
    restarts = [line for line in lines if "restarting" in line]
    assert restarts and "used no CPU time meanwhile: hung" in restarts[0], lines
    stopped_it = [line for line in lines if line.startswith("[supervise] stopping")
                  and hung_pid in line.rpartition("PIDs ")[2].split()]
    assert len(stopped_it) == 1, (hung_pid, lines)
    assert hang.get("restarted_at"), f"no new scheduler started after the hang at {hang['at']}: {lines}"


def test_no_process_of_the_hung_schedulers_tree_is_left(run):
    """Every process of the old scheduler's tree (by PID and start time) was gone once the new scheduler
    had started, and still 40 s later; on Airflow 2 that tree held the DagFileProcessorManager, which sits
    in a process group of its own."""
    hang = run["hang"]
    assert len(hang["tree"]) > 1, hang["tree"]  # the scheduler and what it started
    if not AIRFLOW_3:
        assert any("DagFileProcessorManager" in proc["command"] for proc in hang["tree"]), hang["tree"]
    assert hang["left_at_restart"] == [], hang["supervisor"]
    assert hang["left_40s_later"] == []


def test_no_metadata_session_stays_idle_in_a_transaction_past_the_timeout(run):
    hang = run["hang"]
    assert hang["timeout"] == f"{IDLE_IN_TRANSACTION_TIMEOUT // 60}min"
    pid, seconds, query = hang.get("longest_idle_in_transaction", (None, 0.0, ""))
    assert seconds < IDLE_IN_TRANSACTION_TIMEOUT + SAMPLING, (pid, seconds, query)


def test_the_run_the_scheduler_hung_in_finished_with_every_task_succeeded(run):
    latest = [t for t in run["task_tries"] if t["latest"]]
    assert {t["state"] for t in latest} == {"success"}
    dag_id, task_id = run["hang"]["task"].split(".")
    hung_during = [t for t in run["task_tries"] if (t["dag_id"], t["task_id"]) == (dag_id, task_id)]
    assert any(t["start_date"] < run["hang"]["at"] for t in hung_during), "the hang came after the task it targets"
