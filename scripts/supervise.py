"""Keep one Airflow process running, as a container runtime keeps a scheduler pod running.

    supervise.py [--health URL] [--start-grace S] [--probe-every S] [--stop-grace S] -- COMMAND...

Starts COMMAND in a session of its own and starts it again 5 s after it exits. With --health, it also
restarts a COMMAND that hangs: the liveness probe of a deployment, which asks URL every 10 s (after a 90 s
start-up grace). Airflow's scheduler needs both: it exits, or hangs in its shutdown, when its metadata
database goes away.

Slow is not hung. On a machine whose cores are busy with other work the scheduler's heartbeat falls
behind and its health check fails, while the scheduler still works. So a failing probe restarts COMMAND
only when, over its last 3 failures in a row, COMMAND's own process used no CPU time at all (stopped, or
blocked on a lock or a socket), or when the probe has failed for 5 minutes in a row whatever it did.

A restart leaves nothing behind. The supervisor is a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a
process COMMAND started whose parent dies is re-parented to the supervisor, not to init, whatever process
group or session it moved to (Airflow 2's scheduler starts its DagFileProcessorManager in a process group
of its own, which outlived a `killpg` of the scheduler's group and held the scheduler's metadata session
with row locks on dag_run). So every process COMMAND ever started is a descendant of the supervisor until
it is gone: a stop sends SIGTERM to each of them, SIGKILL after 20 s to what is left, and waits until every
one has exited before COMMAND starts again. SIGTERM to the supervisor does the same, then it exits.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

RESTART_DELAY = 5
START_GRACE = 90
PROBE_EVERY = 10
PROBE_FAILURES = 3  # failures in a row after which a command that used no CPU in them is hung
PROBE_LIMIT = 30  # failures in a row (5 minutes) after which it is restarted, busy or not
STOP_GRACE = 20
PR_SET_CHILD_SUBREAPER = 36


def log(message: str) -> None:
    print(f"[supervise] {message}", flush=True)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def become_subreaper() -> None:
    """Orphans of the command's tree become this process's children (Linux 3.4+), so none escapes a stop."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def tree(child: subprocess.Popen) -> list[psutil.Process]:
    """Every living process the command started (this supervisor's descendants, orphans included);
    exited ones are collected on the way (`child` by its Popen, to keep its exit status), so they do not
    linger as zombies."""
    child.poll()
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                if proc.ppid() == os.getpid() and proc.pid != child.pid:
                    os.waitpid(proc.pid, os.WNOHANG)
                continue
            found.append(proc)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (0 once it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def stop(child: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """SIGTERM every process of the command's tree, SIGKILL what is left after `grace` seconds, and return
    once all of them have exited (each checked by PID and start time, so a reused PID is not waited for)."""
    procs = tree(child)
    if procs:
        log(f"stopping {' '.join(child.args[:2])}: {len(procs)} processes, PIDs {' '.join(str(p.pid) for p in procs)}")
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30)):
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            procs = [p for p in tree(child) if p.is_running()]  # with any the command started meanwhile
            if not procs:
                return
            time.sleep(0.2)
    log(f"still running after SIGKILL: PIDs {' '.join(str(p.pid) for p in procs)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--health")
    parser.add_argument("--start-grace", type=float, default=START_GRACE)
    parser.add_argument("--probe-every", type=float, default=PROBE_EVERY)
    parser.add_argument("--stop-grace", type=float, default=STOP_GRACE)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    become_subreaper()
    child: subprocess.Popen | None = None

    def terminate(*_):
        if child is not None:
            stop(child, args.stop_grace)
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    while True:
        child = subprocess.Popen(command, start_new_session=True)
        started, failures, cpu_at_failures = time.monotonic(), 0, []
        while child.poll() is None:
            time.sleep(args.probe_every if args.health else 1)
            tree(child)  # collects orphans that exited
            if not args.health or time.monotonic() - started <= args.start_grace:
                continue
            if healthy(args.health):
                failures, cpu_at_failures = 0, []
                continue
            failures += 1
            cpu_at_failures = [*cpu_at_failures, cpu_seconds(child.pid)][-PROBE_FAILURES:]
            idle = failures >= PROBE_FAILURES and cpu_at_failures[-1] - cpu_at_failures[0] == 0
            if idle or failures >= PROBE_LIMIT:
                why = "and used no CPU time meanwhile: hung" if idle else "while it kept busy"
                log(f"{args.health} failed {failures} times in a row {why}; restarting {command[0]}")
                stop(child, args.stop_grace)
            elif failures == PROBE_FAILURES:
                log(f"{args.health} failed {failures} times in a row, but the process is working "
                    f"({cpu_at_failures[-1] - cpu_at_failures[0]:.2f} s of CPU meanwhile): slow, not hung")
        stop(child, args.stop_grace)  # what it left behind: processes that outlived it
        log(f"{' '.join(command[:2])} exited ({child.returncode}); starting it again in {RESTART_DELAY} s")
        time.sleep(RESTART_DELAY)


if __name__ == "__main__":
    sys.exit(main())
