import logging
from types import SimpleNamespace

from include.finance import alerts


def context(map_index=-1, exception="boom"):
    ti = SimpleNamespace(dag_id="finance_elt", task_id="load_input_files", map_index=map_index,
                         run_id="scheduled__2026-11-20T00:00:00+00:00", try_number=3,
                         log_url="http://localhost:8080/log?dag_id=finance_elt")
    return {"task_instance": ti, "ti": ti, "exception": exception}


def test_one_line_names_dag_task_run_try_error_and_log(caplog):
    with caplog.at_level(logging.ERROR, logger="finance.alerts"):
        alerts.log_failure(context(map_index=1, exception=ValueError("charge_part_001.csv:\n line 7: bad amount")))
    assert caplog.messages == [
        "TASK FAILED dag=finance_elt task=load_input_files[1] run=scheduled__2026-11-20T00:00:00+00:00 try=3 "
        "error=charge_part_001.csv: line 7: bad amount log=http://localhost:8080/log?dag_id=finance_elt"
    ]


def test_unmapped_task_and_missing_exception():
    line = alerts.failure_line(context(exception=None))
    assert " task=load_input_files run=" in line and " error=unknown " in line


def test_every_notifier_gets_the_failure_line_and_the_model_alerts(monkeypatch, caplog):
    from jinja2 import Template

    sent = []
    monkeypatch.setattr(alerts, "NOTIFIERS", [lambda ctx: sent.append(Template(alerts.ALERT_TEMPLATE).render(**ctx))])
    with caplog.at_level(logging.WARNING, logger="finance.alerts"):
        alerts.log_failure(context(map_index=0))
        alerts.notify_model_alert(context(), "ds=2026-11-29 model=v1 drift: product_type PSI 0.468 > 0.200")
    assert sent == caplog.messages == [
        "TASK FAILED dag=finance_elt task=load_input_files[0] run=scheduled__2026-11-20T00:00:00+00:00 try=3 "
        "error=boom log=http://localhost:8080/log?dag_id=finance_elt",
        "MODEL ALERT dag=finance_elt task=load_input_files run=scheduled__2026-11-20T00:00:00+00:00 "
        "ds=2026-11-29 model=v1 drift: product_type PSI 0.468 > 0.200"]
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
