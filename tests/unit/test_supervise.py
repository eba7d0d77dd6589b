"""scripts/supervise.py with real processes: a restart ends every process the command started, however it
detached (a new session, an orphan), before the command starts again; a hung command is restarted, a busy
one is not; SIGTERM leaves nothing behind. The health URL is a tiny HTTP server here; the timings are
shortened through the supervisor's options."""

import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from include.finance.config import PROJECT_ROOT
SUPERVISE = [sys.executable, str(PROJECT_ROOT / "scripts" / "supervise.py"), "--start-grace", "0.5", "--probe-every", "0.5",
             "--stop-grace", "2"]

# The supervised command: each start appends "<its pid> <its detached grandchild's pid>" to a file, then
# spins (BUSY) or sleeps. The grandchild is in a session of its own, as Airflow 2's DagFileProcessorManager
# is in a process group of its own: a killpg of the command's group misses it.
COMMAND = textwrap.dedent("""
    import os, subprocess, sys, time
    grandchild = subprocess.Popen(["sleep", "600"], start_new_session=True)
    with open(sys.argv[1], "a") as out:
        out.write(f"{os.getpid()} {grandchild.pid}\\n")
    if sys.argv[2] == "exit":
        os._exit(3)  # dies, leaving its grandchild to whoever reaps orphans
    while True:
        if sys.argv[2] == "busy":
            sum(range(10000))
        else:
            time.sleep(0.1)
""")


@pytest.fixture
def health():
    """An HTTP server whose /health answers 503: a scheduler whose heartbeat fell behind."""

    class Unhealthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unhealthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def supervise(tmp_path, mode: str, *options: str) -> tuple[subprocess.Popen, Path]:
    starts = tmp_path / "starts"
    script = tmp_path / "command.py"
    script.write_text(COMMAND)
    proc = subprocess.Popen([*SUPERVISE, *options, "--", sys.executable, str(script), str(starts), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return proc, starts


def started(starts: Path, count: int, timeout: float = 30) -> list[tuple[psutil.Process, psutil.Process]]:
    """The first `count` starts of the command: (command, grandchild), each a psutil.Process fixed at its
    start time, so a reused PID is not mistaken for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = starts.read_text().splitlines() if starts.exists() else []
        if len(lines) >= count:
            found = []
            for line in lines[:count]:
                pids = [int(pid) for pid in line.split()]
                found.append(tuple(_process(pid) for pid in pids))
            return found
        time.sleep(0.05)
    raise AssertionError(f"the command did not start {count} times in {timeout} s")


def _process(pid: int):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None  # gone already


def alive(proc) -> bool:
    try:
        return proc is not None and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def finish(proc: subprocess.Popen) -> str:
    """SIGTERM the supervisor, return what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    return output


def test_a_restart_ends_what_the_command_left_behind_before_it_starts_again(tmp_path):
    """The command dies; its grandchild, in a session of its own, is gone before the second start."""
    proc, starts = supervise(tmp_path, "exit")
    try:
        (first, orphan), = started(starts, 1)
        started(starts, 2)  # the supervisor waits 5 s, then starts it again
        assert not alive(orphan), "the dead command's detached grandchild outlived the restart"
    finally:
        output = finish(proc)
    assert "exited (3)" in output


def test_a_hung_command_is_restarted_with_its_whole_tree(tmp_path, health):
    proc, starts = supervise(tmp_path, "sleep", "--health", health)
    try:
        (command, grandchild), = started(starts, 1)
        os.kill(command.pid, signal.SIGSTOP)  # hung: no CPU time, no heartbeat; SIGTERM waits until SIGKILL
        (_, _), (second, _) = started(starts, 2)
        assert second.pid != command.pid
        assert not alive(command) and not alive(grandchild)
    finally:
        output = finish(proc)
    assert "used no CPU time meanwhile: hung; restarting" in output
    assert f"exited ({-signal.SIGKILL})" in output


def test_a_busy_command_whose_health_check_fails_is_not_restarted(tmp_path, health):
    """Slow is not hung: a command that keeps using CPU is left running while its health check fails
    (the 5-minute limit is far away)."""
    proc, starts = supervise(tmp_path, "busy", "--health", health)
    try:
        started(starts, 1)
        time.sleep(5)  # ten failed probes
        assert len(starts.read_text().splitlines()) == 1
    finally:
        output = finish(proc)
    assert "slow, not hung" in output and "restarting" not in output


def test_sigterm_ends_the_supervisor_and_every_process_of_the_command(tmp_path):
    proc, starts = supervise(tmp_path, "sleep")
    (command, grandchild), = started(starts, 1)
    output = finish(proc)
    assert proc.returncode == 0
    assert not alive(command) and not alive(grandchild), output


def test_make_down_kills_what_a_supervisor_that_had_to_be_killed_left(tmp_path):
    """`Stack._stop` (make down) records each service's tree before it signals it: a service that ignores
    SIGTERM is SIGKILLed after the grace, and its detached grandchild with it (it would otherwise be
    re-parented to init and live on)."""
    from scripts.stack import Stack

    stack = Stack(state_dir=tmp_path / "state")
    starts = tmp_path / "starts"
    script = tmp_path / "stubborn.py"
    script.write_text("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + COMMAND)
    service = subprocess.Popen([sys.executable, str(script), str(starts), "sleep"], start_new_session=True)
    stack.pid_file("scheduler").parent.mkdir(parents=True)
    stack.pid_file("scheduler").write_text(str(service.pid))
    (command, grandchild), = started(starts, 1)
    stack._stop("scheduler", grace=1)
    service.wait(5)
    assert not alive(command) and not alive(grandchild)
    assert not stack.pid_file("scheduler").exists()
