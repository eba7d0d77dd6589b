"""Unit tests of the local stack (scripts/stack/) that start no service: the per-clone secrets, `save_s3`
and the downloads of a run's files (a fake S3 client), `make parse` and the command line
(tests/unit/test_stack_api.py: its REST calls)."""

import json
import os
import re
import stat
from pathlib import Path

import pytest

from scripts import stack as stack_module
from scripts.stack import AIRFLOW_3, Stack, StackError, postgres, s3, summary
from scripts.stack.parse import parse
from tests.editions import edition_only


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
    assert env[f"AIRFLOW_CONN_{stack_module.settings.db_conn_id.upper()}"] == stack.db_uri("finance")
    assert not hasattr(postgres, "PG_PASSWORD")


def test_the_web_secret_key_is_kept_private_also_when_an_older_version_made_it(tmp_path):
    file, variable = ("api_secret_key", "AIRFLOW__API__SECRET_KEY") if AIRFLOW_3 else (
        "webserver_secret_key", "AIRFLOW__WEBSERVER__SECRET_KEY")
    (tmp_path / file).write_text("made-by-an-older-version")
    (tmp_path / file).chmod(0o644)
    assert Stack(state_dir=tmp_path).env()[variable] == "made-by-an-older-version"
    assert stat.S_IMODE((tmp_path / file).stat().st_mode) == 0o600


@pytest.mark.skipif(not AIRFLOW_3, reason=edition_only("Airflow 3's processes only: Airflow 2 signs no task tokens, "
                                                       "its login is a user"))
def test_airflow_3s_processes_share_their_secrets_and_the_login_and_listen_on_loopback(tmp_path):
    env = Stack(state_dir=tmp_path, web_port=28123).env()
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == (tmp_path / "jwt_secret").read_text().strip()  # scheduler signs, API checks
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:28123/execution/"
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "28123")
    assert env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] == "60"  # its Airflow 2 name is ignored
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    # the documented admin login, and the dashboard's read-only user with its password of the state folder
    assert json.loads(passwords.read_text()) == {"admin": "admin", "dashboard": Stack(state_dir=tmp_path).dashboard_airflow_password}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,dashboard:viewer"
    assert not [name for name in env if name.startswith(("AIRFLOW__WEBSERVER__", "AIRFLOW__ASTRO_SDK__"))]


@pytest.mark.skipif(AIRFLOW_3, reason=edition_only("Airflow 2's processors only: Airflow 3's send the parsed DAGs to "
                                                   "their manager, which saves them one after the other"))
def test_airflow_2_parses_one_dag_file_at_a_time(tmp_path):
    # two processors saving finance_elt and finance_ml at once both insert the new dataset: one fails (idx_uri_unique)
    assert Stack(state_dir=tmp_path).env()["AIRFLOW__SCHEDULER__PARSING_PROCESSES"] == "1"


def test_initdb_gets_the_state_folders_password_and_no_copy_of_it_is_left(tmp_path, monkeypatch):
    stack, seen = Stack(state_dir=tmp_path / "state"), {}
    stack.__dict__["pg_data"] = tmp_path / "state" / "postgres"  # not the /tmp folder a root run may pick

    def run_pg(argv: list[str]) -> None:
        if Path(argv[0]).name == "initdb":
            pwfile = Path(next(arg for arg in argv if arg.startswith("--pwfile=")).split("=", 1)[1])
            seen.update(password=pwfile.read_text().strip(), mode=stat.S_IMODE(pwfile.stat().st_mode), pwfile=pwfile)
            (stack.pg_data / "PG_VERSION").write_text("17")

    monkeypatch.setattr(postgres, "find_pg_bin", lambda: tmp_path / "bin")
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)  # no chown to `postgres`
    monkeypatch.setattr(stack, "_run_pg", run_pg)
    # no server here: what the server receives is tests/db/test_postgres_password.py's
    monkeypatch.setattr(stack, "_set_pg_password", lambda: None)
    monkeypatch.setattr(stack, "_ensure_database", lambda name: None)
    monkeypatch.setattr(stack, "configure_metadata_database", lambda: None)
    stack.start_postgres()
    assert seen["password"] == (tmp_path / "state" / "pg_password").read_text().strip()
    assert seen["mode"] == 0o600 and not seen["pwfile"].exists()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["pg_password", "postgres"]


@pytest.fixture
def pg_data_under_tmp(tmp_path, monkeypatch):
    """Root, and a state folder the `postgres` user cannot reach: `pg_data` is then a folder of this test's
    own /tmp (tmp_path/tmp). Returns that folder's path; the fake `postgres` user's uid is this process's."""
    import pwd
    from types import SimpleNamespace

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)
    monkeypatch.setattr(postgres, "_postgres_user_can_reach", lambda folder: False)
    monkeypatch.setattr(postgres.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setattr(pwd, "getpwnam", lambda name: SimpleNamespace(pw_uid=os.getuid()))
    [path] = {Stack(state_dir=tmp_path / "state").pg_data for _ in range(2)}  # one name per state folder
    if path.is_dir():
        path.rmdir()  # the test plants what it needs there
    return path


def test_the_clusters_folder_stays_in_the_state_folder_where_postgres_can_reach_it(tmp_path, monkeypatch):
    monkeypatch.setattr(postgres, "_postgres_user_can_reach", lambda folder: True)
    assert Stack(state_dir=tmp_path).pg_data == tmp_path / "postgres"


def test_the_clusters_folder_under_tmp_is_made_private(tmp_path, pg_data_under_tmp):
    assert Stack(state_dir=tmp_path / "state").pg_data == pg_data_under_tmp
    assert pg_data_under_tmp.parent == tmp_path / "tmp"
    assert pg_data_under_tmp.name.startswith("finance-elt-ml-postgres-")
    info = os.lstat(pg_data_under_tmp)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert Stack(state_dir=tmp_path / "state").pg_data == pg_data_under_tmp  # the next run's, made by this one


@pytest.mark.parametrize("planted", ["symlink", "file", "foreign", "writable"])
def test_the_clusters_folder_under_tmp_is_refused_when_someone_else_put_something_there(tmp_path, pg_data_under_tmp,
                                                                                     planted):
    """Another user of the machine, knowing the name, made it first: a link to a folder of theirs (or of the
    system's), a file, a folder of theirs, or one anyone can write to."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if planted == "symlink":
        pg_data_under_tmp.symlink_to(elsewhere)
    elif planted == "file":
        pg_data_under_tmp.write_text("")
    else:
        pg_data_under_tmp.mkdir(mode=0o700)
        if planted == "writable":
            pg_data_under_tmp.chmod(0o777)
        elif os.getuid() == 0:  # owned by neither root nor `postgres`
            os.chown(pg_data_under_tmp, 4242, 4242)
        else:
            pytest.skip("making a folder of another user needs root")  # this process's uid is `postgres`'s here
    message = {"symlink": "is not a folder but a symbolic link", "file": "is not a folder but a file",
               "foreign": "owned by uid 4242", "writable": "with mode 777: another user made it or can write to it"}
    with pytest.raises(StackError, match=re.escape(f"{pg_data_under_tmp} (where PostgreSQL's data goes) ")
                       + ".*" + re.escape(message[planted]) + ".*refusing to use it"):
        Stack(state_dir=tmp_path / "state").pg_data
    assert list(elsewhere.iterdir()) == []


class FakeS3:
    """What `save_s3` asks of boto3's S3 client, over {bucket: {key: body}}."""

    def __init__(self, buckets: dict[str, dict[str, bytes]]):
        self.buckets = buckets

    def list_buckets(self):
        return {"Buckets": [{"Name": name} for name in self.buckets]}

    def get_paginator(self, operation: str):
        assert operation == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str = ""):
        keys = [key for key in self.buckets[Bucket] if key.startswith(Prefix)]
        yield {"Contents": [{"Key": key} for key in keys[:2]]}
        yield {"Contents": [{"Key": key} for key in keys[2:]]} if keys[2:] else {}

    def list_objects_v2(self, Bucket: str, Prefix: str = ""):
        return {"Contents": [{"Key": key} for key in self.buckets[Bucket] if key.startswith(Prefix)]}

    def download_file(self, bucket: str, key: str, filename: str):
        Path(filename).write_bytes(self.buckets[bucket][key])


@pytest.fixture
def fake_s3(monkeypatch):
    def use(stack: Stack, buckets: dict[str, dict[str, bytes]]) -> None:
        monkeypatch.setattr(stack, "_alive", lambda name: name == "s3")
        monkeypatch.setattr(s3, "s3_client", lambda _: FakeS3(buckets))

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
                                 "charge/..", "./..", ".", "charge//escaped", "charge/./escaped"])
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


def download_ml_artifacts(stack, ml_run, folder):
    """The end-to-end tests' copy of a finance_ml run's files (tests/e2e/conftest.py)."""
    from tests.e2e.conftest import download_ml_artifacts

    download_ml_artifacts(stack, {"finance_ml": ml_run}, folder)


def download_plots(stack, ml_run, folder):
    """`make run`'s download of a finance_ml run's files (the plots) for the summary."""
    summary.download(stack, stack_module.ml_artifacts_prefix(ml_run), folder)


@pytest.mark.parametrize("download", [download_plots, download_ml_artifacts])
@pytest.mark.parametrize("key", ["a/../../escaped", "a//escaped", "{tmp}/escaped", "../escaped"])  # {tmp}: absolute
def test_downloads_of_a_runs_files_refuse_a_key_that_would_be_written_outside_their_folder(tmp_path, monkeypatch,
                                                                                           download, key):
    ml_run, key = {"logical_date": "2026-11-21T00:00:00+00:00"}, key.replace("{tmp}", str(tmp_path))
    prefix = stack_module.ml_artifacts_prefix(ml_run)
    files = {prefix + "model.joblib": b"model", prefix + "plots/a.png": b"png", prefix + key: b"escaped"}
    client = FakeS3({stack_module.settings.data_bucket_name: files})
    monkeypatch.setattr(summary, "s3_client", lambda _: client)
    monkeypatch.setattr(stack_module, "s3_client", lambda _: client)
    with pytest.raises(StackError, match=re.escape(f"refusing to save S3 key {key!r}")):
        download(Stack(state_dir=tmp_path / "state"), ml_run, tmp_path / "run" / "files")
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))
    # without it, every file lands under the folder
    del files[prefix + key]
    download(Stack(state_dir=tmp_path / "state"), ml_run, tmp_path / "run" / "files")
    landed = {p.relative_to(tmp_path / "run" / "files").as_posix(): p.read_bytes()
              for p in (tmp_path / "run" / "files").rglob("*") if p.is_file()}
    assert landed == {"model.joblib": b"model", "plots/a.png": b"png"}


def test_parse_lists_the_dag_files_that_fail_to_import(tmp_path):
    (tmp_path / "good.py").write_text("import pendulum\nfrom airflow import DAG\n\n"
                                      "with DAG('good', start_date=pendulum.datetime(2026, 1, 1), schedule=None):\n"
                                      "    pass\n")
    (tmp_path / "broken.py").write_text("from airflow import DAG\nfrom include.finance import no_such_module\n")
    found = parse(tmp_path)
    assert found["dags"] == ["good"]
    assert list(found["errors"]) == [str(tmp_path / "broken.py")]
    assert "no_such_module" in found["errors"][str(tmp_path / "broken.py")]


@pytest.mark.parametrize("argv, executor, data, timeout, days", [
    (["run"], "local", None, 900.0, 1),
    (["run", "--data", "in", "--timeout", "60"], "local", "in", 60.0, 1),
    (["--executor", "celery", "run", "--data", "in", "--days", "4"], "celery", "in", 900.0, 4),
])
def test_the_command_line_hands_run_its_folder_executor_timeout_and_days(monkeypatch, tmp_path, argv, executor, data,
                                                                          timeout, days):
    from scripts.stack import __main__ as cli

    monkeypatch.delenv("EXECUTOR", raising=False)
    monkeypatch.delenv("RUN_TIMEOUT", raising=False)
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(cli, "run_pipeline", lambda stack, data_dir, timeout, days: calls.append(
        (stack.executor, data_dir, timeout, days)))
    assert cli.main(argv) == 0
    assert calls == [(executor, (tmp_path / data) if data else None, timeout, days)]


def test_the_command_line_passes_everything_after_airflow_to_the_airflow_cli(monkeypatch):
    from scripts.stack import __main__ as cli

    monkeypatch.setattr(cli.Stack, "pg_ready", lambda self: True)
    monkeypatch.setattr(cli.os, "chdir", lambda path: None)
    execs = []
    monkeypatch.setattr(cli.os, "execve", lambda path, argv, env: execs.append(argv[1:]))
    cli.main(["airflow", "tasks", "list", "finance_elt", "--help"])
    assert execs == [["tasks", "list", "finance_elt", "--help"]]


def test_a_service_is_not_started_where_something_listens_on_its_port_already(tmp_path):
    """An S3 endpoint an earlier run left on the port would answer in place of the new one, which could not bind
    it and would exit; the stack would record the dead one and never stop the one that answers."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stack = Stack(state_dir=tmp_path, s3_port=taken.getsockname()[1])
        with pytest.raises(StackError, match=rf"s3 cannot start: 127.0.0.1:{stack.s3_port} is taken by pid {os.getpid()}: "):
            stack.start_s3()
    assert not stack.pid_file("s3").exists()  # nothing was started


def test_a_run_without_a_data_folder_does_not_keep_the_one_an_earlier_run_of_the_stack_was_given(tmp_path):
    from scripts.stack.pipeline import run_pipeline

    class NotStarted(Exception):
        pass

    class Recorder:  # what in_finance_data would be given when `up` starts the stack
        def __init__(self):
            self.extra_env, self.seen = {}, []

        def up(self, fresh_metadata):
            self.seen.append(self.extra_env.get("INPUT_DATA_DIR"))
            raise NotStarted

        def down(self):
            pass

    stack = Recorder()
    for data_dir in (tmp_path, None):
        with pytest.raises(NotStarted):
            run_pipeline(stack, data_dir=data_dir)
    assert stack.seen == [str(tmp_path), None]


def test_the_scheduler_is_supervised_with_the_stacks_probe_options_and_the_other_processes_without(tmp_path, monkeypatch):
    from scripts.stack import airflow

    spawned = {}
    stack = Stack(state_dir=tmp_path, health_port=25974, scheduler_probe=("--probe-every", "5", "--stop-grace", "10"))
    monkeypatch.setattr(Stack, "_spawn", lambda self, name, argv, **_: spawned.setdefault(name, argv))
    monkeypatch.setattr(Stack, "airflow", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(Stack, "ensure_dashboard_airflow_user", lambda self: None)
    monkeypatch.setattr(airflow, "http_ok", lambda url: True)
    stack.start_airflow(migrate=False)
    supervise = spawned["scheduler"][: spawned["scheduler"].index("--")]
    assert supervise[2:] == ["--health", "http://127.0.0.1:25974/health", "--probe-every", "5", "--stop-grace", "10"]
    others = [argv for name, argv in spawned.items() if name != "scheduler"]
    assert others and all(argv[2] == "--" for argv in others)


def test_a_copy_of_the_metadata_template_starts_with_its_login_and_a_migrated_database_makes_it(tmp_path, monkeypatch):
    """`fresh_metadata`'s copy has the UI's login from its template (Airflow 2's `airflow users create`, 5 s of CPU);
    `make up` on the database it keeps migrates it and makes the login where it is missing."""
    from scripts.stack import airflow

    calls = []
    stack = Stack(state_dir=tmp_path, health_port=25974)
    monkeypatch.setattr(Stack, "_spawn", lambda self, name, argv, **_: None)
    monkeypatch.setattr(Stack, "airflow", lambda self, *args, **kwargs: calls.append(args[:2]))
    monkeypatch.setattr(Stack, "ensure_dashboard_airflow_user", lambda self: None)
    monkeypatch.setattr(airflow, "http_ok", lambda url: True)
    stack.start_airflow(migrate=False)
    assert calls == []
    stack.start_airflow(migrate=True)
    assert calls == [("db", "migrate")] + ([] if AIRFLOW_3 else [("users", "create")])
