"""The stack's Redis (Celery's broker), started for real on a free loopback port: closed to whoever does not
have the state folder's password, which no other user of the machine can read off its command line or log."""

import os
import shutil
import stat
import subprocess

import pytest

from scripts.stack import Stack
from scripts.stack.redis import redis_ok
from tests.conftest import free_port

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")]


@pytest.fixture
def redis(tmp_path, monkeypatch):
    """The stack's Redis; `argv` is what it was started with (Redis soon overwrites its /proc/<pid>/cmdline
    with its own title, but until then `ps` shows every other user what it was given)."""
    stack, started = Stack(state_dir=tmp_path / "state", redis_port=free_port()), []
    monkeypatch.setattr(stack, "_spawn",
                        lambda name, argv, **kw: started.append(argv) or Stack._spawn(stack, name, argv, **kw))
    try:
        stack.start_redis()
        [stack.argv] = started
        yield stack
    finally:
        stack._stop("redis")  # also one that never answered


def redis_cli(stack, *args: str, password: str | None = None) -> str:
    # REDISCLI_AUTH: redis-cli's way to take the password off its command line
    env = {**os.environ, **({"REDISCLI_AUTH": password} if password else {})}
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(stack.redis_port), *args], env=env,
                          capture_output=True, text=True, timeout=10).stdout.strip()


def test_redis_answers_only_with_the_state_folders_password(redis):
    password = redis.redis_password
    assert len(password) == 32 and (redis.state_dir / "redis_password").read_text().strip() == password
    assert redis_cli(redis, "ping").startswith("NOAUTH")
    assert redis_cli(redis, "ping", password="not-the-password").startswith("NOAUTH")  # AUTH failed
    assert redis_cli(redis, "ping", password=password) == "PONG"
    assert redis_ok(redis.redis_port, password) and not redis_ok(redis.redis_port, "not-the-password")
    assert redis.env()["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{password}@127.0.0.1:{redis.redis_port}/0"


def test_the_redis_password_is_in_no_command_line_or_log_and_its_files_are_private(redis):
    password, pid = redis.redis_password, int(redis.pid_file("redis").read_text())
    assert redis.argv == ["redis-server", str(redis.state_dir / "redis.conf")]
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode()
    assert cmdline.startswith("redis-server") and password not in cmdline
    log = (redis.log_dir / "redis.log").read_text()
    assert "Ready to accept connections" in log and password not in log
    for name in ("redis_password", "redis.conf"):
        assert stat.S_IMODE((redis.state_dir / name).stat().st_mode) == 0o600, name
