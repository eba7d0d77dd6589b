"""Every DAG imports cleanly and follows the project's policy; parsing a DAG file has no side effects."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from include.finance import alerts
from include.finance.config import DAG_IDS, PROJECT_ROOT, settings
from tests import editions
from tests.editions import AIRFLOW_3, ASTRO_SDK_ONLY, DAGS_FOLDER, MappedOperator


@pytest.fixture(scope="module")
def dagbag():
    """The edition's DAGs: dags/ (Astro SDK, Airflow 2) or airflow3/dags/."""
    return editions.dagbag()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_policy(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert Path(dag.fileloc).stem == dag_id, "dag_id is the file name"
    assert dag.tags and "finance" in dag.tags
    assert dag.doc_md and len(dag.doc_md.strip()) > 100, "the module docstring is the DAG's page in the UI"
    assert dag.max_active_runs == 1 and dag.catchup is False
    for task in dag.tasks:
        assert task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
        assert alerts.log_failure in (task.on_failure_callback or []), f"{dag_id}.{task.task_id} fails silently"


# finance_elt's quality gates: data checks in the database (include/finance/quality/gate_operators.py)
GATES = {
    "finance_elt": {"check_loaded.check_in_charge_columns", "check_loaded.check_in_charge_rows",
                    "check_loaded.check_charge_rejected_share", "check_loaded.check_in_satisfaction_columns",
                    "check_loaded.check_in_satisfaction_rows", "check_loaded.check_satisfaction_rejected_share",
                    "check_model_input", "check_model_satisfaction.check_model_satisfaction_columns",
                    "check_model_satisfaction.check_model_satisfaction_rows"},
    "finance_ml": set(), "in_finance_data": set(),
}


def check_tasks(dag) -> set[str]:
    """The DAG's tasks that are a common-sql check operator (or a subclass): its data checks."""
    from airflow.providers.common.sql.operators import sql as common_sql

    kinds = tuple(getattr(common_sql, name) for name in ("SQLColumnCheckOperator", "SQLTableCheckOperator",
                                                          "SQLCheckOperator", "SQLValueCheckOperator",
                                                          "SQLIntervalCheckOperator", "SQLThresholdCheckOperator"))
    return {task.task_id for task in dag.tasks if isinstance(task, kinds)}


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_a_quality_gate_fails_at_once_and_every_task_keeps_its_retries(dagbag, dag_id):
    """A data check gives the same answer on the same rows: a failing gate raises GateFailed, an
    AirflowFailException, which Airflow does not retry. Its retries stay for what a retry mends (the
    database restarting), as every task's do (an outage or a restart passes)."""
    from include.finance.edition import AirflowFailException
    from include.finance.quality.gate_operators import GateFailed, RowsColumnCheckOperator, TableGateOperator

    dag = dagbag.dags[dag_id]
    assert check_tasks(dag) == GATES[dag_id], "every data check is a gate of the list above"
    assert issubclass(GateFailed, AirflowFailException)
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries={task.retries}"
        if not task.task_id.startswith("wait_for_ingest."):  # the sensors' own: SENSOR_RETRY_DELAY, doubling
            assert task.retry_delay == timedelta(seconds=settings.task_retry_delay), (task.task_id, task.retry_delay)
        if task.task_id in GATES[dag_id]:  # the operators whose failure is a GateFailed
            assert isinstance(task, (RowsColumnCheckOperator, TableGateOperator)), task


def test_finance_ml_is_scheduled_on_the_dataset_finance_elt_emits(dagbag):
    elt, ml = dagbag.dags["finance_elt"], dagbag.dags["finance_ml"]
    emitted = {o.uri for t in elt.tasks for o in t.outlets if "@" not in o.uri}
    consumed = editions.consumed_uris(ml)
    assert consumed and consumed <= emitted
    assert {o.uri for o in elt.get_task("publish_model_satisfaction").outlets} >= consumed


def test_the_dataset_is_emitted_only_after_every_quality_gate(dagbag):
    from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator

    elt = dagbag.dags["finance_elt"]
    gates = {t.task_id for t in elt.tasks if isinstance(t, (SQLColumnCheckOperator, SQLTableCheckOperator))}
    publish = elt.get_task("publish_model_satisfaction")
    assert len(gates) >= 8
    assert gates <= {t.task_id for t in publish.get_flat_relatives(upstream=True)}
    assert all(t.task_id == publish.task_id or not t.outlets or all("@" in o.uri for o in t.outlets)
               for t in elt.tasks), "no other task emits a plain dataset"


# finance_ml of the Airflow 3 edition makes no table (its rows travel as a DataFrame): nothing to clean up
@pytest.mark.parametrize("dag_id", ["finance_elt"] + ([] if AIRFLOW_3 else ["finance_ml"]))
def test_cleanup_is_a_teardown_after_every_other_task(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    cleanup = dag.get_task("cleanup")
    assert cleanup.is_teardown and not cleanup.on_failure_fail_dagrun, "cleanup does not decide the run's state"
    assert cleanup.get_flat_relative_ids(upstream=True) == set(dag.task_ids) - {"cleanup"}


def test_sensors_are_deferrable_amazon_sensors(dagbag):
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    sensors = [t for t in dagbag.dags["finance_elt"].tasks if t.task_id.startswith("wait_for_ingest.")]
    assert len(sensors) == 2
    for sensor in sensors:
        assert type(sensor) is S3KeySensor and sensor.deferrable
        assert "{{ ds }}" in sensor.bucket_key


def test_training_and_plotting_are_mapped(dagbag):
    ml = dagbag.dags["finance_ml"]
    assert isinstance(ml.get_task("train_model_task"), MappedOperator)
    assert isinstance(ml.get_task("plot_model_results"), MappedOperator)


def test_loading_and_ingestion_are_mapped(dagbag):
    assert isinstance(dagbag.dags["finance_elt"].get_task("load_input_files"), MappedOperator)
    assert isinstance(dagbag.dags["in_finance_data"].get_task("upload_part"), MappedOperator)


RENDER_POD = r"""
import json, sys
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import ApiClient
from tests.editions import dagbag

bag = dagbag(sys.argv[1])
assert not bag.import_errors, bag.import_errors
mapped = bag.dags["finance_ml"].get_task("train_model_task")
print("KIND", type(mapped).__name__, mapped.operator_class.__name__)
# What the task does at run time up to the pod it would start (KubernetesPodOperator.execute creates it).
KubernetesPodOperator.execute = lambda self, context: self.build_pod_request_obj(dry_run=True)
kwargs = {k: v for k, v in mapped.partial_kwargs.items() if k not in ("is_setup", "is_teardown", "on_failure_fail_dagrun")}
op_kwargs = {**kwargs.pop("op_kwargs"), "features": {}, "day_run": {"run_id": "r", "experiment_id": "1"},
             **json.loads(sys.argv[2])}  # one model of the map
operator = mapped.operator_class(task_id="train_model_task", python_callable=mapped.python_callable,
                                 op_kwargs=op_kwargs, **kwargs)
print("POD", json.dumps(ApiClient().sanitize_for_serialization(operator.execute({}))))
"""


def test_prod_trains_in_a_pod_of_the_deployments_image_with_only_what_it_has():
    """The pod a training task would start with ENVIRONMENT=prod on Astro: the deployment's own image
    (ASTRONOMER_AIRFLOW_IMAGE), its namespace, MLflow's variables from the secret K8S_MLFLOW_SECRET (the pod has
    no Airflow connection to reach MLflow with), the script the decorator ships; every module that
    script imports (and include/ under it) is in the image: the project, the standard library or a
    package of the edition's lock."""
    import ast
    import base64
    import importlib.metadata

    env = {**os.environ, "ENVIRONMENT": "prod", "DB_HOST": "db.internal", "DB_NAME": "finance", "PYTHONPATH": str(PROJECT_ROOT),
           "ASTRONOMER_AIRFLOW_IMAGE": "images.astronomer.cloud/org/deployment:deploy-1",
           "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "astronomer-deployment-1"}

    out = subprocess.run([sys.executable, "-c", RENDER_POD, str(DAGS_FOLDER), json.dumps(settings.models[0])],
                         env=env, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines() if line[:4] in ("KIND", "POD ")}
    assert lines["KIND"] == "DecoratedMappedOperator _KubernetesDecoratedOperator"  # mapped over the models
    pod = json.loads(lines["POD"])
    container = pod["spec"]["containers"][0]
    assert pod["metadata"]["namespace"] == "astronomer-deployment-1"
    assert container["image"] == "images.astronomer.cloud/org/deployment:deploy-1"
    assert [s["name"] for s in pod["spec"]["imagePullSecrets"]] == ["image-pull-secret", "per-dp-registry-pull-secret"]
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-tracking"}}]
    assert container["command"][:2] == ["bash", "-cx"]
    assert "python /tmp/script.py /tmp/script.in /airflow/xcom/return.json" in container["command"][2]
    script = base64.b64decode(next(e["value"] for e in container["env"] if e["name"] == "__PYTHON_SCRIPT")).decode()
    assert "from include.finance.training.ml import train_model" in script
    assert "from include.finance.training.tracking import log_model_run" in script

    def imports(source: str) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module)
        return names

    seen, todo, external = set(), imports(script), set()
    while todo:  # follow the project's own modules
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if module.split(".")[0] == "include":
            path = PROJECT_ROOT / (module.replace(".", "/") + ".py")
            todo |= imports(path.read_text()) if path.exists() else set()
        elif module.split(".")[0] not in sys.stdlib_module_names:
            external.add(module.split(".")[0])
    locked = {line.split("==")[0].lower() for line in editions.LOCK.read_text().splitlines() if "==" in line}
    providers = importlib.metadata.packages_distributions()
    missing = {m: providers.get(m) for m in external if not any(d.lower() in locked for d in providers.get(m, []))}
    assert {"sklearn", "pandas", "mlflow"} <= external and missing == {}


PROBE = r"""
import json, socket, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
seen = {"queries": [], "connects": [], "connections": []}
event.listen(Engine, "before_cursor_execute", lambda *a: seen["queries"].append(str(a[2])[:200]))
real_connect = socket.socket.connect
def connect(self, address):
    seen["connects"].append(str(address))
    return real_connect(self, address)
socket.socket.connect = connect
def get_connection(conn_id):
    seen["connections"].append(conn_id)
    raise RuntimeError("no connection at parse time")
from include.finance.edition import BaseHook
BaseHook.get_connection = classmethod(lambda cls, conn_id: get_connection(conn_id))
import importlib.util
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("dagfile", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(seen))
"""


def test_parsing_opens_no_connection_and_runs_no_query():
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    files = [str(DAGS_FOLDER / f"{d}.py") for d in DAG_IDS]
    out = subprocess.run([sys.executable, "-c", PROBE, *files], env=env, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"queries": [], "connects": [], "connections": []}


@pytest.mark.skipif(AIRFLOW_3, reason=f"{ASTRO_SDK_ONLY}, whose transforms bind their parameters as they are")
def test_transform_parameters_do_not_shadow_airflow_context_names(dagbag):
    """The Astro SDK turns a parameter `x` into the context entry `x` = ":x" before it renders the
    templates: a parameter named like a context variable (`ds`) would be sent as the text ':ds'."""
    from airflow.utils.context import KNOWN_CONTEXT_KEYS
    from astro.sql.operators.base_decorator import BaseSQLDecoratedOperator

    transforms = [t for dag_id in ("finance_elt", "finance_ml") for t in dagbag.dags[dag_id].tasks
                  if isinstance(t, BaseSQLDecoratedOperator)]
    assert len(transforms) == 4
    for task in transforms:
        names = set(task.parameters or {}) | set(task.op_kwargs)
        assert names and not names & set(KNOWN_CONTEXT_KEYS), (task.task_id, names)


def test_the_input_files_are_read_only_after_the_sensors_saw_them(dagbag):
    elt = dagbag.dags["finance_elt"]
    upstream = {t.task_id for t in elt.get_task("check_input_files").get_flat_relatives(upstream=True)}
    assert {"wait_for_ingest.wait_for_ingest_charge", "wait_for_ingest.wait_for_ingest_satisfaction"} <= upstream


@pytest.mark.parametrize("rows", [0, 10])
def test_finance_ml_stops_on_a_tiny_model_satisfaction_with_a_message_and_no_retry(dagbag, rows):
    import pandas as pd

    from include.finance.edition import AirflowFailException
    from include.finance.training import ml

    table = pd.DataFrame({c: ["premium" if c == "product_type" else 1] * rows for c in [ml.MODEL_KEY, *ml.FEATURES, ml.TARGET]})
    split_train_test = dagbag.dags["finance_ml"].get_task("split_train_test").python_callable
    with pytest.raises(AirflowFailException, match=rf"2026-11-30: model_satisfaction has {rows} usable rows .* at least 50"):
        split_train_test(table, day="2026-11-30")


@pytest.mark.skipif(AIRFLOW_3, reason=f"{ASTRO_SDK_ONLY}: test_operators_airflow3.py tests that edition's select_rows")
def test_finance_ml_selects_its_rows_with_the_sql_file_from_the_configured_schema(dagbag):
    from include.finance import sql

    select = dagbag.dags["finance_ml"].get_task("select_model_rows")
    assert select.sql == (sql.FOLDER / "select_model_rows.sql").read_text()  # read from the file at parse time
    table = select.parameters["model_satisfaction"]
    assert (table.name, table.metadata.schema, table.conn_id) == ("model_satisfaction", settings.db_schema,
                                                                  settings.db_conn_id)
    assert select.parameters["max_rows"] == settings.ml_max_rows


def test_the_champion_is_measured_before_the_days_decision_and_predicts_after_it(dagbag):
    ml = dagbag.dags["finance_ml"]

    def upstream(task_id: str) -> set[str]:
        return {t.task_id for t in ml.get_task(task_id).get_flat_relatives(upstream=True)}

    assert "monitor_model" in upstream("choose_champion")  # the serving model, before it may be replaced
    assert {"publish_best_model", "choose_champion"} <= upstream("predict_customers")
    assert "monitor_model" in upstream("plot_monitoring")  # the day's rows are in the plot
    assert "data_day" in upstream("select_model_rows")  # the day the transform reads


def test_finance_ml_task_bodies_are_short():
    """The DAG file is a table of contents: what a task does is in include/finance/."""
    import ast

    tree = ast.parse((DAGS_FOLDER / "finance_ml.py").read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name != "finance_ml"]
    assert functions
    for function in functions:
        body = function.body[1:] if ast.get_docstring(function) else function.body
        assert body[-1].end_lineno - body[0].lineno + 1 <= 10, function.name


@pytest.mark.parametrize("dag_id", ["in_finance_data", "finance_elt"])
def test_the_daily_dags_run_after_midnight_for_the_day_that_ended(dagbag, dag_id):
    """A data-interval schedule on both editions: Airflow 3's default for a cron string would run at midnight
    for the day that begins (CronTriggerTimetable), whose files do not exist yet."""
    timetable = dagbag.dags[dag_id].timetable
    assert type(timetable).__name__ == "CronDataIntervalTimetable"
    assert (getattr(timetable, "expression", None) or timetable._expression) in ("@daily", "0 0 * * *")
