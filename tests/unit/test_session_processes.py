"""What the session's last check counts as a process this session left running (`clone_processes`)."""

import os
import subprocess
import sys
import time

import psutil

from include.finance.config import PROJECT_ROOT
from tests.conftest import SESSION_MARK, clone_processes


SLEEP = "import time; time.sleep(60)"


def started_in_the_project(mark: str, code: str = SLEEP) -> subprocess.Popen:
    env = {**os.environ, SESSION_MARK: mark}
    return subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env)


def test_a_process_of_this_session_is_counted_and_one_of_the_other_editions_session_is_not():
    """`.ci/run` runs both editions' sessions side by side: the other's stack is not this one's leftover."""
    ours, theirs = started_in_the_project(os.environ[SESSION_MARK]), started_in_the_project("1")
    try:
        found = {int(line.split()[0]) for line in clone_processes()}
        assert ours.pid in found
        assert theirs.pid not in found
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


def test_a_child_whose_environment_says_nothing_is_its_nearest_marked_ancestors():
    """PostgreSQL's backends write their titles over their environment: their postmaster's mark decides."""
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SLEEP!r}], env={{}})"
    ours, theirs = started_in_the_project(os.environ[SESSION_MARK], spawn), started_in_the_project("1", spawn)
    try:
        children = {}
        for parent in (ours, theirs):
            while not (found := psutil.Process(parent.pid).children()):
                time.sleep(0.05)
            children[parent] = found[0].pid
        found = {int(line.split()[0]) for line in clone_processes()}
        assert children[ours] in found
        assert children[theirs] not in found
    finally:
        for proc in (ours, theirs):
            for child in psutil.Process(proc.pid).children():
                child.kill()
            proc.kill()
            proc.wait()
