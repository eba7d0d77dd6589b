"""Unit tests of scripts/stack.py that start no service: the per-clone secrets and `save_s3` (a fake S3 client)."""

import re
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import stack as stack_module  # noqa: E402
from stack import Stack, StackError  # noqa: E402


def test_the_database_password_is_made_once_per_state_folder_and_kept_private(tmp_path):
    stack = Stack(state_dir=tmp_path / "one")
    password = stack.pg_password
    path = tmp_path / "one" / "pg_password"
    assert len(password) == 32 and path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Stack(state_dir=tmp_path / "one").pg_password == password  # the same cluster, the same password
    assert Stack(state_dir=tmp_path / "two").pg_password != password
    assert "local-pg-password" not in password
    assert sorted(p.name for p in path.parent.iterdir()) == ["pg_password"]  # no draft left behind


def test_every_user_of_the_database_password_reads_it_from_the_state_folder(tmp_path):
    stack = Stack(state_dir=tmp_path, pg_port=25999)
    password = stack.pg_password
    env = stack.env()
    assert stack.db_uri("finance") == f"postgresql://postgres:{password}@127.0.0.1:25999/finance"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://postgres:{password}@127.0.0.1:25999/airflow"
    assert env["AIRFLOW_CONN_POSTGRES_DEFAULT"] == stack.db_uri("finance")
    assert not hasattr(stack_module, "PG_PASSWORD")


def test_the_webserver_secret_key_is_kept_private_also_when_an_older_version_made_it(tmp_path):
    (tmp_path / "webserver_secret_key").write_text("made-by-an-older-version")
    (tmp_path / "webserver_secret_key").chmod(0o644)
    assert Stack(state_dir=tmp_path).env()["AIRFLOW__WEBSERVER__SECRET_KEY"] == "made-by-an-older-version"
    assert stat.S_IMODE((tmp_path / "webserver_secret_key").stat().st_mode) == 0o600



def test_initdb_gets_the_state_folders_password_and_no_copy_of_it_is_left(tmp_path, monkeypatch):
    stack, seen = Stack(state_dir=tmp_path / "state"), {}
    stack.__dict__["pg_data"] = tmp_path / "state" / "postgres"  # not the /tmp folder a root run may pick

    def run_pg(argv: list[str]) -> None:
        if Path(argv[0]).name == "initdb":
            pwfile = Path(next(arg for arg in argv if arg.startswith("--pwfile=")).split("=", 1)[1])
            seen.update(password=pwfile.read_text().strip(), mode=stat.S_IMODE(pwfile.stat().st_mode), pwfile=pwfile)
            (stack.pg_data / "PG_VERSION").write_text("17")

    monkeypatch.setattr(stack_module, "find_pg_bin", lambda: tmp_path / "bin")
    monkeypatch.setattr(stack_module.os, "geteuid", lambda: 1000)  # no chown to `postgres`
    monkeypatch.setattr(stack, "_run_pg", run_pg)
    monkeypatch.setattr(stack, "_set_pg_password", lambda: seen.update(altered=stack.pg_password))
    monkeypatch.setattr(stack, "_ensure_database", lambda name: None)
    stack.start_postgres()
    assert seen["password"] == seen["altered"] == (tmp_path / "state" / "pg_password").read_text().strip()
    assert seen["mode"] == 0o600 and not seen["pwfile"].exists()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["pg_password", "postgres"]

class FakeS3:
    """What `save_s3` asks of boto3's S3 client, over {bucket: {key: body}}."""

    def __init__(self, buckets: dict[str, dict[str, bytes]]):
        self.buckets = buckets

    def list_buckets(self):
        return {"Buckets": [{"Name": name} for name in self.buckets]}

    def get_paginator(self, operation: str):
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str):
        keys = list(self.buckets[Bucket])
        yield {"Contents": [{"Key": key} for key in keys[:2]]}
        yield {"Contents": [{"Key": key} for key in keys[2:]]} if keys[2:] else {}

    def download_file(self, bucket: str, key: str, filename: str):
        Path(filename).write_bytes(self.buckets[bucket][key])


@pytest.fixture
def fake_s3(monkeypatch):
    def use(stack: Stack, buckets: dict[str, dict[str, bytes]]) -> None:
        monkeypatch.setattr(stack, "_alive", lambda name: name == "s3")
        monkeypatch.setattr(stack_module, "s3_client", lambda _: FakeS3(buckets))

    return use


def test_save_s3_saves_every_object_under_its_bucket(tmp_path, fake_s3):
    stack = Stack(state_dir=tmp_path / "state")
    (stack.s3_saved / "old").mkdir(parents=True)  # what an earlier `down` saved is replaced
    fake_s3(stack, {"data": {"a.csv": b"a", "charge/dt=2026-01-01/b.csv": b"b", "xcom/": b"", "..c": b"c"},
                    "other": {}})
    stack.save_s3()
    saved = {p.relative_to(stack.s3_saved).as_posix(): p.read_bytes() for p in stack.s3_saved.rglob("*") if p.is_file()}
    assert saved == {"data/a.csv": b"a", "data/charge/dt=2026-01-01/b.csv": b"b", "data/..c": b"c"}
    assert (stack.s3_saved / "other").is_dir() and not (stack.s3_saved / "old").exists()


@pytest.mark.parametrize("key", ["../escaped", "../../escaped", "charge/../../escaped", "{tmp}/escaped", "..",
                                 "charge/..", "./..", "."])
def test_save_s3_refuses_a_key_that_would_be_written_outside_its_folder(tmp_path, fake_s3, key):
    key = key.replace("{tmp}", str(tmp_path))  # absolute
    stack = Stack(state_dir=tmp_path / "state")
    (stack.s3_saved / "data").mkdir(parents=True)
    (stack.s3_saved / "data" / "kept.csv").write_bytes(b"saved by an earlier down")
    fake_s3(stack, {"data": {"fine.csv": b"fine", key: b"escaped"}})
    with pytest.raises(StackError, match=re.escape(f"refusing to save S3 key {key!r}")):
        stack.save_s3()
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))
    assert (stack.s3_saved / "data" / "kept.csv").read_bytes() == b"saved by an earlier down"  # the earlier save stays


@pytest.mark.parametrize("bucket", ["..", "../escaped", "{tmp}/escaped"])
def test_save_s3_refuses_a_bucket_name_that_would_be_written_outside_its_folder(tmp_path, fake_s3, bucket):
    bucket = bucket.replace("{tmp}", str(tmp_path))
    stack = Stack(state_dir=tmp_path / "state")
    fake_s3(stack, {bucket: {"a.csv": b"a"}})
    with pytest.raises(StackError, match="refusing to save S3 key"):
        stack.save_s3()
    assert not any(p.name in ("escaped", "a.csv") for p in tmp_path.rglob("*"))


class FakeAirflow:
    """The REST API `run_pipeline` talks to: the chosen day's runs have succeeded, and so have the next
    day's (a scheduler that saw midnight pass adds them), listed first as the newest."""

    def __init__(self, day, next_day):
        self.calls = []
        self.runs = {dag_id: [self._run(dag_id, next_day), self._run(dag_id, day)] for dag_id in stack_module.DAG_IDS}

    @staticmethod
    def _run(dag_id, day):
        return {"dag_id": dag_id, "dag_run_id": f"{dag_id}__{day:%Y-%m-%d}", "logical_date": day.isoformat(),
                "state": "success", "run_type": "manual"}

    def api(self, method, path, body=None):
        self.calls.append((method, path, body))
        if path == "importErrors":
            return {"import_errors": []}
        if path.startswith("dags?"):
            return {"dags": [{"dag_id": dag_id} for dag_id in stack_module.DAG_IDS]}
        if path.endswith("/upstreamDatasetEvents"):  # finance_ml's run of a day was triggered by finance_elt's
            day = path.split("finance_ml__", 1)[1].split("/")[0]
            return {"dataset_events": [{"source_run_id": f"finance_elt__{day}"}]}
        if method == "GET" and "/dagRuns?" in path:
            return {"dag_runs": self.runs[path.split("/")[1]]}
        return {}


def test_run_pipeline_drives_every_dag_for_the_one_day_it_chose_before_midnight(tmp_path, monkeypatch):
    """The clock says 23:59:59.9 UTC when the day is chosen and the next day ever after: every run it
    triggers and every run it reports is of the day chosen, though the next day's runs are the newest."""
    import datetime as dt

    utc = dt.timezone.utc
    readings = iter([dt.datetime(2026, 11, 30, 23, 59, 59, 900000, tzinfo=utc)])
    clock = lambda: next(readings, dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=utc))  # noqa: E731
    day, next_day = dt.datetime(2026, 11, 29, tzinfo=utc), dt.datetime(2026, 11, 30, tzinfo=utc)
    fake = FakeAirflow(day, next_day)
    stack = Stack(state_dir=tmp_path)
    monkeypatch.setattr(stack, "api", fake.api)
    monkeypatch.setattr(Stack, "up", lambda self, fresh_metadata=False: None)
    monkeypatch.setattr(Stack, "down", lambda self, save=True: None)
    monkeypatch.setattr(stack_module, "_summary", lambda stack, runs, plots: {"runs": runs})
    monkeypatch.setattr(stack_module, "_print_summary", lambda summary, path: None)

    summary = stack_module.run_pipeline(stack, summary_path=tmp_path / "summary.json", clock=clock)

    triggered = [(path, body) for method, path, body in fake.calls if method == "POST"]
    assert triggered == [
        (f"dags/{dag_id}/dagRuns", {"logical_date": "2026-11-29T00:00:00+00:00", "data_interval_start": "2026-11-29T00:00:00+00:00",
                                    "data_interval_end": "2026-11-30T00:00:00+00:00"})
        for dag_id in ("finance_elt", "in_finance_data")
    ]
    assert {dag_id: run["dag_run_id"] for dag_id, run in summary["runs"].items()} == {
        dag_id: f"{dag_id}__2026-11-29" for dag_id in stack_module.DAG_IDS}
    switched_on = [path for method, path, _ in fake.calls if method == "PATCH"]
    assert switched_on == [f"dags/{dag_id}?update_mask=is_paused" for dag_id in reversed(stack_module.DAG_IDS)]


def test_the_last_complete_day_is_yesterday_utc_whatever_the_time_zone():
    import datetime as dt

    assert stack_module.last_complete_day(dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=dt.timezone.utc)) == \
        dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    east = dt.timezone(dt.timedelta(hours=9))  # 08:30 on Dec 1 in Tokyo is 23:30 on Nov 30 UTC
    assert stack_module.last_complete_day(dt.datetime(2026, 12, 1, 8, 30, tzinfo=east)) == \
        dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)
