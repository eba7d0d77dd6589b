"""Keep one Airflow process running, as a container runtime keeps a scheduler pod running.

    supervise.py [--health URL] -- COMMAND...

Starts COMMAND in its own process group and starts it again 5 s after it exits. With --health, it
also restarts it when URL stops answering 200 for 30 s in a row (after a 90 s start-up grace): the
liveness probe of a deployment. Airflow's scheduler needs both: it exits, or hangs in its shutdown,
when its metadata database goes away. SIGTERM stops the command's process group and the supervisor.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request

RESTART_DELAY = 5
START_GRACE = 90
PROBE_EVERY = 10
PROBE_FAILURES = 3
STOP_GRACE = 20


def log(message: str) -> None:
    print(f"[supervise] {message}", flush=True)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def stop(child: subprocess.Popen) -> None:
    """SIGTERM the child's process group (its task workers too), SIGKILL after STOP_GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--health")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    child: subprocess.Popen | None = None

    def terminate(*_):
        if child is not None:
            stop(child)
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    while True:
        child = subprocess.Popen(command, start_new_session=True)
        started, failures = time.monotonic(), 0
        while child.poll() is None:
            time.sleep(PROBE_EVERY if args.health else 1)
            if args.health and time.monotonic() - started > START_GRACE:
                failures = 0 if healthy(args.health) else failures + 1
                if failures >= PROBE_FAILURES:
                    log(f"{args.health} failed {failures} times in a row: restarting {command[0]}")
                    stop(child)
        log(f"{' '.join(command[:2])} exited ({child.returncode}); starting it again in {RESTART_DELAY} s")
        time.sleep(RESTART_DELAY)


if __name__ == "__main__":
    sys.exit(main())
