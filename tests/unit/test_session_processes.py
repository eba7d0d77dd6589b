"""What the session's last check counts as a process this session left running (`clone_processes`)."""

import os
import subprocess
import sys

from include.finance.config import PROJECT_ROOT
from tests.conftest import SESSION_MARK, clone_processes


def started_in_the_project(mark: str) -> subprocess.Popen:
    env = {**os.environ, SESSION_MARK: mark}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=PROJECT_ROOT, env=env)


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
