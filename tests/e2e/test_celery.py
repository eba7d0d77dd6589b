"""The pipeline under the CeleryExecutor: two workers that share no disk, one of them killed mid-task."""

import pytest

from include.finance.config import settings
from scripts.stack import CELERY_WORKERS

pytestmark = pytest.mark.integration


def test_each_worker_has_its_own_host_name_and_tmp_and_a_read_only_include(celery_run):
    seen = celery_run["isolation"]
    assert [seen[name] for name in CELERY_WORKERS] == list(CELERY_WORKERS)
    assert seen["first_wrote_its_tmp"] and not seen["second_sees_it"] and not seen["host_sees_it"]
    assert not seen["include_writable"]


def test_the_runs_tasks_ran_on_both_workers(celery_run):
    latest = [t for t in celery_run["task_tries"] if t["latest"]]
    assert {t["state"] for t in latest} == {"success"}
    assert {t["hostname"] for t in latest} == set(CELERY_WORKERS)
    assert set(celery_run["summary"]["task_hosts"]) == set(CELERY_WORKERS)
    for dag_id in ("in_finance_data", "finance_elt", "finance_ml"):
        assert any(t["dag_id"] == dag_id for t in latest)


def test_a_worker_killed_while_training_loses_no_task(celery_run):
    """The killer SIGKILLed a worker's process group (and so its PID namespace) while training tasks
    ran on it: each of those tries ended failed on that worker after the kill, and the task's next
    try succeeded on the other worker."""
    kill = celery_run["kill"]
    assert kill, "no training task was seen running: the worker was never killed"
    killed, survivor = kill["worker"], (set(CELERY_WORKERS) - {kill["worker"]}).pop()
    assert kill["tasks"] and kill["group_alive_after"] is False
    tries = [t for t in celery_run["task_tries"] if (t["dag_id"], t["task_id"]) == ("finance_ml", "train_model_task")]
    for map_index, try_number in kill["tasks"]:
        of_task = {t["try_number"]: t for t in tries if t["map_index"] == map_index}
        hit = of_task[try_number]
        assert hit["hostname"] == killed and hit["state"] in ("failed", "up_for_retry"), hit
        assert hit["start_date"] < kill["at"] < hit["end_date"], (hit, kill["at"])
        last = of_task[max(of_task)]
        assert last["latest"] and last["state"] == "success" and last["hostname"] == survivor, last
        assert last["try_number"] > try_number
    assert len({t["map_index"] for t in tries}) == len(settings.models)
