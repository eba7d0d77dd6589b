"""The Airflow 3 edition's event path in the shared tasks (include/finance/tasks.py, run_context.py): a run of finance_ml
that finance_elt's asset events triggered gets them as Airflow 3.3's task runner hands them over, a
`TriggeringAssetEventsAccessor` keyed by `Asset` (built here the way task_runner.py builds it, from the
dag run's `consumed_asset_events`), and it has no logical date, only `run_after`."""

import contextlib
import datetime as dt
import logging

import pytest

from tests.editions import AIRFLOW_3, AIRFLOW_3_ONLY

if not AIRFLOW_3:
    pytest.skip(AIRFLOW_3_ONLY, allow_module_level=True)

from airflow.sdk import Asset  # noqa: E402
from airflow.sdk.api.datamodels._generated import DagRun  # noqa: E402
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult  # noqa: E402
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor  # noqa: E402

from include.finance import run_context, schema, tasks  # noqa: E402
from include.finance.training import artifacts  # noqa: E402

URI = schema.model_satisfaction_uri()
OTHER = "s3://elsewhere/other"  # an asset of another producer, also consumed
DAY_1, DAY_2 = "2026-11-20", "2026-11-21"
RUN_AFTER = dt.datetime(2026, 11, 21, 2, 0, 5, tzinfo=dt.timezone.utc)


def reference(uri: str, ds: str, hour: int) -> dict:
    """One asset event as the API server sends it in the dag run's consumed_asset_events."""
    return {"asset": {"name": uri, "uri": uri, "extra": {}}, "extra": {"ds": ds, "rows": 100 + hour},
            "source_task_id": "publish_model_satisfaction", "source_dag_id": "finance_elt",
            "source_run_id": f"scheduled__{ds}T00:00:00+00:00", "source_map_index": -1, "source_aliases": [],
            "timestamp": dt.datetime(2026, 11, 21, hour, tzinfo=dt.timezone.utc)}


def asset_triggered_run(conf: dict | None = None) -> DagRun:
    """finance_ml's run for finance_elt's events of two days (the later day's first in the list) and one of
    another asset."""
    return DagRun.model_validate({
        "dag_id": "finance_ml", "run_id": "asset_triggered__2026-11-21T02:00:05+00:00", "logical_date": None,
        "data_interval_start": None, "data_interval_end": None, "run_after": RUN_AFTER, "start_date": RUN_AFTER,
        "end_date": None, "run_type": "asset_triggered", "state": "running", "conf": conf or {},
        "partition_key": None,
        "consumed_asset_events": [reference(URI, DAY_2, 2), reference(URI, DAY_1, 1),
                                  reference(OTHER, "2026-01-01", 3)],
    })


def triggering_asset_events(dag_run: DagRun) -> TriggeringAssetEventsAccessor:
    """What Airflow 3.3's task runner puts into the context as `triggering_asset_events`."""
    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult.from_asset_event_dag_run_reference(event)
        for event in dag_run.consumed_asset_events)


@pytest.fixture
def no_table(monkeypatch):
    """data_day's connection, and a model_satisfaction table a run with events must not consult."""
    monkeypatch.setattr(tasks, "db_connection", lambda: contextlib.nullcontext("connection"))
    asked = []
    monkeypatch.setattr(schema, "latest_day", lambda conn, *args: asked.append(conn) or "2026-11-30")
    return asked


def test_the_accessor_is_keyed_by_assets_as_airflow_hands_it_over():
    events = triggering_asset_events(asset_triggered_run())
    assert set(events) == {Asset(URI), Asset(OTHER)} and all(isinstance(key, Asset) for key in events)
    with pytest.raises(TypeError, match="Key should be either an asset or an asset alias"):
        events[URI]  # noqa: B018 - an Airflow 3 accessor is not keyed by the URI
    assert URI not in dict(events)


def test_events_by_uri_keys_each_assets_events_by_its_uri():
    by_uri = run_context.events_by_uri(triggering_asset_events(asset_triggered_run()))
    assert set(by_uri) == {URI, OTHER} and all(type(key) is str for key in by_uri)
    assert [(e.extra["ds"], e.timestamp.hour, e.source_dag_id) for e in by_uri[URI]] == [
        (DAY_2, 2, "finance_elt"), (DAY_1, 1, "finance_elt")]
    assert [e.extra["ds"] for e in by_uri[OTHER]] == ["2026-01-01"]
    assert isinstance(by_uri[URI], list)  # the accessor's lazy sequences, as a list
    assert run_context.events_by_uri(None) == {} and run_context.events_by_uri(TriggeringAssetEventsAccessor.build([])) == {}


def test_data_day_is_the_latest_events_day_and_names_the_day_it_leaves_out(no_table, caplog):
    dag_run = asset_triggered_run()
    with caplog.at_level(logging.WARNING):
        assert tasks.data_day(triggering_asset_events(dag_run), dag_run.conf) == DAY_2
    assert no_table == []  # the events named the day: the table was not asked
    assert f"it works on {DAY_2} and leaves out {DAY_1}" in caplog.text


def test_the_dag_files_data_day_task_reads_the_asset_events(no_table):
    """airflow3/dags/finance_ml.py's data_day, called with the context's names as Airflow 3 fills them in."""
    from airflow3.dags import finance_ml

    dag_run = asset_triggered_run()
    events = triggering_asset_events(dag_run)
    assert finance_ml.data_day.function(triggering_asset_events=events, dag_run=dag_run) == DAY_2
    assert no_table == []


def test_a_manual_runs_conf_or_else_the_table_names_the_day(no_table):
    assert tasks.data_day(TriggeringAssetEventsAccessor.build([]), {"ds": "2026-11-25"}) == "2026-11-25"
    assert tasks.data_day(TriggeringAssetEventsAccessor.build([]), {}) == "2026-11-30"  # the table's newest day
    assert no_table == ["connection"]


def test_the_published_model_names_the_finance_elt_run_of_the_latest_event():
    """publish_best_model's lineage (artifacts.source_of) from the same events, keyed by URI by events_by_uri."""
    source = artifacts.source_of(run_context.events_by_uri(triggering_asset_events(asset_triggered_run())))
    assert source == {"built_by": f"finance_elt run scheduled__{DAY_2}T00:00:00+00:00", "ds": DAY_2, "rows": 102}


def test_run_key_of_an_asset_triggered_run_is_its_run_after(monkeypatch):
    """An asset-triggered run has no logical date: Airflow 3 puts no ts_nodash into its context."""
    dag_run = asset_triggered_run()
    monkeypatch.setattr(run_context, "get_current_context", lambda: {"dag_run": dag_run, "run_id": dag_run.run_id})
    assert run_context.run_key() == "20261121T020005"
    scheduled = dag_run.model_copy(update={"logical_date": dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)})
    monkeypatch.setattr(run_context, "get_current_context", lambda: {"dag_run": scheduled, "ts_nodash": "20261120T000000"})
    assert run_context.run_key() == "20261120T000000"  # a run with a logical date keeps its ts_nodash
