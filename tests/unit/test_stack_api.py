"""Unit tests of the local stack's REST side (scripts/stack/) that start no service: the pipeline's calls and
the state lines it prints (a fake API), the API client's authentication (a tiny HTTP server)."""

import base64
import datetime as dt
import http.server
import json
import threading
import urllib.error
import urllib.parse

import pytest

from scripts import stack as stack_module
from scripts.stack import AIRFLOW_3, DAG_IDS, AirflowAPI, Stack, StackError, TaskWatch, api, pipeline
from include.finance import airflow_api


class FakeAirflow:
    """The REST API `run_pipeline` talks to: the chosen day's runs have succeeded, and so have the next
    day's (a scheduler that saw midnight pass adds them), listed first as the newest."""

    def __init__(self, day, next_day):
        self.calls = []
        self.runs = {dag_id: [self._run(dag_id, next_day), self._run(dag_id, day)] for dag_id in DAG_IDS}

    @staticmethod
    def _run(dag_id, day):
        return {"dag_id": dag_id, "dag_run_id": f"{dag_id}__{day:%Y-%m-%d}", "logical_date": day.isoformat(),
                "state": "success", "run_type": "manual"}

    def api(self, method, path, body=None):
        self.calls.append((method, path, body))
        if path == "importErrors":
            return {"import_errors": []}
        if path.startswith("dags?"):
            return {"dags": [{"dag_id": dag_id} for dag_id in DAG_IDS]}
        if path == "dags/~/dagRuns/~/taskInstances/list":
            return {"task_instances": []}
        endpoint, events = api.UPSTREAM_EVENTS
        if path.endswith(f"/{endpoint}"):  # finance_ml's run of a day was triggered by finance_elt's
            day = path.split("finance_ml__", 1)[1].split("/")[0]
            return {events: [{"source_run_id": f"finance_elt__{day}"}]}
        if method == "GET" and "/dagRuns?" in path:
            return {"dag_runs": self.runs[path.split("/")[1]]}
        if path == "dags/~/dagRuns/list":
            return {"dag_runs": [run for dag_id in body["dag_ids"] for run in self.runs[dag_id]
                                 if body[f"{api.LOGICAL_DATE}_gte"] <= run["logical_date"] <= body[f"{api.LOGICAL_DATE}_lte"]]}
        return {}


def test_run_pipeline_drives_every_dag_for_the_one_day_it_chose_before_midnight(tmp_path, monkeypatch):
    """The clock says 23:59:59.9 UTC when the day is chosen and the next day ever after: every run it
    triggers and every run it reports is of the day chosen, though the next day's runs are the newest."""
    utc = dt.timezone.utc
    readings = iter([dt.datetime(2026, 11, 30, 23, 59, 59, 900000, tzinfo=utc)])
    clock = lambda: next(readings, dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=utc))  # noqa: E731
    day, next_day = dt.datetime(2026, 11, 29, tzinfo=utc), dt.datetime(2026, 11, 30, tzinfo=utc)
    fake = FakeAirflow(day, next_day)
    stack = Stack(state_dir=tmp_path)
    monkeypatch.setattr(stack, "api", fake.api)
    monkeypatch.setattr(Stack, "up", lambda self, fresh_metadata=False: None)
    monkeypatch.setattr(Stack, "down", lambda self, save=True: None)
    monkeypatch.setattr(pipeline, "run_summary", lambda stack, runs, plots, each_day: {"runs": runs})
    monkeypatch.setattr(pipeline, "print_summary", lambda summary, path: None)

    summary = pipeline.run_pipeline(stack, summary_path=tmp_path / "summary.json", clock=clock)

    triggered = [(path, body) for method, path, body in fake.calls if method == "POST" and path.endswith("/dagRuns")]
    assert triggered == [
        (f"dags/{dag_id}/dagRuns", {"logical_date": "2026-11-29T00:00:00+00:00", "data_interval_start": "2026-11-29T00:00:00+00:00",
                                    "data_interval_end": "2026-11-30T00:00:00+00:00"})
        for dag_id in ("finance_elt", "in_finance_data")
    ]
    assert {dag_id: run["dag_run_id"] for dag_id, run in summary["runs"].items()} == {
        dag_id: f"{dag_id}__2026-11-29" for dag_id in DAG_IDS}
    switched_on = [path for method, path, _ in fake.calls if method == "PATCH"]
    assert switched_on == [f"dags/{dag_id}?update_mask=is_paused" for dag_id in reversed(DAG_IDS)]


def test_the_waiter_asks_once_for_what_is_settled(tmp_path, monkeypatch):
    """A day whose runs all succeeded, and the finance_elt run that triggered a finance_ml run, are asked for once
    however often the pipeline's waiter looks."""
    utc = dt.timezone.utc
    day, next_day = dt.datetime(2026, 11, 28, tzinfo=utc), dt.datetime(2026, 11, 29, tzinfo=utc)
    fake = FakeAirflow(day, next_day)
    stack = Stack(state_dir=tmp_path)
    monkeypatch.setattr(stack, "api", fake.api)
    days = pipeline.DayWatch(stack, [day, next_day])

    each_day = days.poll()
    asked = len(fake.calls)
    assert [runs["finance_ml"]["dag_run_id"] for runs in each_day] == ["finance_ml__2026-11-28", "finance_ml__2026-11-29"]
    assert days.poll() == each_day and len(fake.calls) == asked
    events = [path for _, path, _ in fake.calls if path.endswith(f"/{api.UPSTREAM_EVENTS[0]}")]
    assert len(events) == len(set(events)) == 2  # each finance_ml run's events, once


def test_the_waiter_holds_finance_elt_until_the_days_finance_ml_run_exists(tmp_path, monkeypatch):
    utc = dt.timezone.utc
    day, next_day = dt.datetime(2026, 11, 28, tzinfo=utc), dt.datetime(2026, 11, 29, tzinfo=utc)
    fake = FakeAirflow(day, next_day)
    ml_runs, fake.runs["finance_ml"] = fake.runs["finance_ml"], []  # the first day's dataset event is out, no run yet
    stack = Stack(state_dir=tmp_path)
    monkeypatch.setattr(stack, "api", fake.api)
    days = pipeline.DayWatch(stack, [day, next_day])

    def paused():
        return [body["is_paused"] for method, path, body in fake.calls if method == "PATCH"]

    assert days.poll() is None and days.poll() is None
    assert paused() == [True]  # paused once while it waited
    fake.runs["finance_ml"] = [ml_runs[1] | {"state": "running"}]  # the first day's finance_ml run trains
    fake.runs["finance_elt"][0]["state"] = "running"  # and the next day's finance_elt runs meanwhile
    assert days.poll() is None and paused() == [True, False]
    fake.runs["finance_elt"][0]["state"] = "success"  # the next day's event is out before its finance_ml run
    assert days.poll() is None and paused() == [True, False, True]
    fake.runs["finance_ml"] = ml_runs
    assert days.poll() is not None and paused() == [True, False, True, False]


def test_a_backfill_runs_the_last_complete_days_oldest_first():
    utc = dt.timezone.utc
    assert pipeline.run_days(dt.datetime(2026, 12, 1, 10, tzinfo=utc), 3) == [
        dt.datetime(2026, 11, day, tzinfo=utc) for day in (28, 29, 30)]
    with pytest.raises(StackError, match="DAYS must be at least 1, got 0"):
        pipeline.run_days(dt.datetime(2026, 12, 1, tzinfo=utc), 0)


def test_the_last_complete_day_is_yesterday_utc_whatever_the_time_zone():
    assert pipeline.last_complete_day(dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=dt.timezone.utc)) == \
        dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    east = dt.timezone(dt.timedelta(hours=9))  # 08:30 on Dec 1 in Tokyo is 23:30 on Nov 30 UTC
    assert pipeline.last_complete_day(dt.datetime(2026, 12, 1, 8, 30, tzinfo=east)) == \
        dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)


def test_the_stack_takes_its_names_from_the_local_profile_of_the_settings(tmp_path, monkeypatch):
    """Whatever ENVIRONMENT the shell has, the stack is the local profile and tells Airflow so."""
    from include.finance.config import PROFILES
    from scripts.stack.common import local_settings

    shell = local_settings({"ENVIRONMENT": "docker", "DB_SCHEMA": "finance"})
    assert (shell.environment, shell.db_host, shell.db_schema) == ("local", PROFILES["local"].db_host, "finance")
    monkeypatch.setenv("ENVIRONMENT", "docker")
    settings, local = stack_module.settings, PROFILES["local"]
    stack = Stack(state_dir=tmp_path)
    env = stack.env()
    assert settings.environment == env["ENVIRONMENT"] == "local"
    assert stack.pg_port == settings.db_port == local.db_port
    assert env[f"AIRFLOW_CONN_{settings.db_conn_id.upper()}"].endswith(f"@{local.db_host}:{local.db_port}/{local.db_name}")
    aws = json.loads(env[f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}"])
    assert aws["extra"]["endpoint_url"] == f"http://127.0.0.1:{stack.s3_port}"
    if not AIRFLOW_3:  # the Astro SDK's settings: its edition only
        assert settings.astro_sdk_env().items() <= env.items()


def task_instance(dag_id, task_id, state, map_index=-1, run="run_1"):
    return {"dag_id": dag_id, "dag_run_id": run, "task_id": task_id, "map_index": map_index, "state": state}


def test_the_watch_prints_each_task_instance_state_once_with_the_seconds_since_it_started():
    pages = iter([
        [task_instance("finance_elt", "check_input_files", None)],
        [task_instance("finance_elt", "check_input_files", "queued")],
        [task_instance("finance_elt", "check_input_files", "running"),
         task_instance("finance_elt", "load_input_files", None, 0), task_instance("finance_elt", "load_input_files", None, 1)],
        [task_instance("finance_elt", "check_input_files", "success"),
         task_instance("finance_elt", "load_input_files", "running", 0), task_instance("finance_elt", "load_input_files", None, 1)],
        [task_instance("finance_elt", "check_input_files", "success"),  # no change: nothing printed
         task_instance("finance_elt", "load_input_files", "running", 0), task_instance("finance_elt", "load_input_files", None, 1)],
        [task_instance("finance_elt", "check_input_files", "success"),
         task_instance("finance_elt", "check_input_files", "scheduled", run="run_2"),  # the next day's run
         task_instance("finance_elt", "load_input_files", "up_for_retry", 0),
         task_instance("finance_elt", "load_input_files", "success", 1)],
    ])
    calls, lines, now = [], [], iter(range(100, 200, 5))  # started at 100, polled every 5 s

    def api(method, path, body):
        calls.append((method, path, body))
        return {"task_instances": next(pages)}

    watch = TaskWatch(api, DAG_IDS, clock=lambda: next(now), out=lines.append)
    for _ in range(6):
        watch.poll()
    assert lines == [
        "   10.0s  finance_elt check_input_files queued",
        "   15.0s  finance_elt check_input_files running",
        "   20.0s  finance_elt check_input_files success",
        "   20.0s  finance_elt load_input_files[0] running",
        "   30.0s  finance_elt check_input_files scheduled",
        "   30.0s  finance_elt load_input_files[0] up_for_retry",
        "   30.0s  finance_elt load_input_files[1] success",
    ]
    assert {(method, path) for method, path, _ in calls} == {("POST", "dags/~/dagRuns/~/taskInstances/list")}
    assert calls[0][2]["dag_ids"] == list(DAG_IDS)


def test_the_watch_reads_every_page_of_task_instances():
    instances = [task_instance("finance_ml", "train_model_task", "running", i) for i in range(250)]
    offsets, lines = [], []

    def api(method, path, body):
        offsets.append(body["page_offset"])
        return {"task_instances": instances[body["page_offset"]:body["page_offset"] + body["page_limit"]]}

    TaskWatch(api, DAG_IDS, out=lines.append).poll()
    assert offsets == [0, 100, 200] and len(lines) == 250


class FakeWebserver(http.server.BaseHTTPRequestHandler):
    """Airflow 2's /api/v1/... answers the admin's session (its login form: a CSRF token and a cookie, then a redirect
    to the start page) or basic auth, Airflow 3's /api/v2/... the token its /auth/token gives the admin (401
    otherwise); both echo what they were sent. `logins` counts the passwords taken (form or token), `sessions`
    switches Airflow 2's session backend."""

    logins = 0
    sessions = True

    def do_GET(self):
        if self.path == "/login/":
            self.send_response(200)
            self.send_header("Set-Cookie", "session=anonymous; HttpOnly; Path=/")
            self.end_headers()
            self.wfile.write(b'<form><input id="csrf_token" name="csrf_token" type="hidden" value="c5rf"></form>')
            return
        self.answer()

    def do_PATCH(self):
        self.answer()

    def do_POST(self):
        if self.path == "/login/":
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            right = (form == {"username": ["admin"], "password": ["admin"], "csrf_token": ["c5rf"]}
                     and self.headers.get("Cookie") == "session=anonymous")
            FakeWebserver.logins += right
            self.send_response(302)
            self.send_header("Location", "/home" if right else "/login/")
            self.send_header("Set-Cookie", f"session={'s3ss' if right else 'anonymous'}; HttpOnly; Path=/")
            self.end_headers()
            return
        self.answer()

    def reply(self, status: int, answer: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.path == "/auth/token":
            if body == {"username": "admin", "password": "admin"}:
                FakeWebserver.logins += 1
                return self.reply(201, {"access_token": "t0k"})
            return self.reply(401, {})
        authorized = {"/api/v1/": "Basic " + base64.b64encode(b"admin:admin").decode(), "/api/v2/": "Bearer t0k"}
        ok = (self.headers.get("Authorization") == authorized.get(self.path[:8])
              or (self.path.startswith("/api/v1/") and self.sessions and self.headers.get("Cookie") == "session=s3ss"))
        unknown = "unknown" in (self.headers.get("Authorization", "") + self.headers.get("Cookie", ""))
        self.reply(200 if ok else 403 if unknown else 401, {"method": self.command, "path": self.path, "body": body,
                                        "basic": self.headers.get("Authorization", "").startswith("Basic ")} if ok else {})

    def log_message(self, *args):
        pass


@pytest.fixture
def webserver(monkeypatch):
    monkeypatch.setattr(FakeWebserver, "sessions", True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeWebserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


EDITIONS = pytest.mark.parametrize("airflow_3", [False, True], ids=["session, api/v1", "token, api/v2"])


@EDITIONS
def test_the_api_client_logs_in_once_and_sends_json(webserver, airflow_3):
    """Airflow 2 as Airflow 3: the password is taken once (Airflow 2 checks it on every basic-auth call)."""
    client, version = AirflowAPI(webserver + "/", "admin", "admin", airflow_3), "v2" if airflow_3 else "v1"
    logins = FakeWebserver.logins
    assert client("GET", "dags/finance_ml") == {"method": "GET", "path": f"/api/{version}/dags/finance_ml", "body": None,
                                                "basic": False}
    assert client("PATCH", "dags/finance_ml?update_mask=is_paused", {"is_paused": False}) == {
        "method": "PATCH", "path": f"/api/{version}/dags/finance_ml?update_mask=is_paused", "body": {"is_paused": False},
        "basic": False}
    assert FakeWebserver.logins - logins == 1  # one login for every call
    with pytest.raises(urllib.error.HTTPError) as refused:
        AirflowAPI(webserver, "admin", "wrong", airflow_3)("GET", "dags")
    assert refused.value.code == 401


@EDITIONS
@pytest.mark.parametrize("expired", ["expired", "unknown"])
def test_an_expired_login_is_replaced_once(webserver, monkeypatch, airflow_3, expired):
    """An expired login is refused with 401; Airflow 2 answers a session of an earlier metadata database with 403."""
    client = AirflowAPI(webserver, "admin", "admin", airflow_3=airflow_3)
    login = {"Authorization": f"Bearer {expired}"} if airflow_3 else {"Cookie": f"session={expired}"}
    monkeypatch.setitem(airflow_api._logins, (webserver, "admin", "admin"), login)
    logins = FakeWebserver.logins
    assert client("GET", "dags")["path"] == ("/api/v2/dags" if airflow_3 else "/api/v1/dags")
    assert FakeWebserver.logins - logins == 1


def test_without_the_session_backend_airflow_2_is_asked_with_basic_auth(webserver, monkeypatch):
    monkeypatch.setattr(FakeWebserver, "sessions", False)
    client = AirflowAPI(webserver, "admin", "admin", airflow_3=False)
    assert [client("GET", "dags")["basic"] for _ in range(2)] == [True, True]


def test_the_stack_calls_the_api_of_its_edition_on_its_web_port(webserver):
    stack = Stack(web_port=int(webserver.rsplit(":", 1)[1]))
    path = stack.api("GET", "dags/in_finance_data")["path"]
    assert path == ("/api/v2" if AIRFLOW_3 else "/api/v1") + "/dags/in_finance_data"
