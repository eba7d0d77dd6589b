"""`make run` on a quiet machine and on one whose every core is saturated by other work: the scheduler
must not be restarted by its liveness probe for being slow (docs/local-stack.md, "Hung, not slow").

    make bench-busy          (= .venv/bin/python -m scripts.bench_busy; EXECUTOR=celery for Celery)

Runs `make run` twice on the stack of `.local/` (fresh Airflow metadata each time): first as it is (the
baseline), then with one busy loop per core, each pinned to its core (`os.sched_setaffinity`), running
from before the stack starts until the run has ended. For each run it prints the wall time, its ratio to
the baseline, and what the logs of that run say: the supervisor's restarts of the scheduler, its
`slow, not hung` lines (probes that failed while the scheduler worked), and the metadata sessions
PostgreSQL ended for being idle in a transaction past `idle_in_transaction_session_timeout`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

from include.finance.report import text_table
from scripts.stack import EXECUTORS, LOCAL, Stack

IDLE_TIMEOUT_LINE = "terminating connection due to idle-in-transaction timeout"


def spin(core: int) -> None:
    os.sched_setaffinity(0, {core})
    while True:
        pass


def tail_from(path, offset: int) -> str:
    if not path.exists():
        return ""
    with open(path, errors="replace") as log:
        log.seek(offset)
        return log.read()


def measured_run(executor: str, busy: bool) -> dict:
    stack = Stack(executor=executor)
    logs = {"scheduler": stack.log_dir / "scheduler.log", "postgres": stack.pg_data / "server.log"}
    offsets = {name: path.stat().st_size if path.exists() else 0 for name, path in logs.items()}
    loops = [multiprocessing.Process(target=spin, args=(core,), daemon=True)
             for core in sorted(os.sched_getaffinity(0))] if busy else []
    for loop in loops:
        loop.start()
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "scripts.stack", "--executor", executor, "run"])
    finally:
        seconds = time.monotonic() - started
        for loop in loops:
            loop.kill()
    scheduler, postgres = (tail_from(path, offsets[name]) for name, path in logs.items())
    supervisor = [line for line in scheduler.splitlines() if line.startswith("[supervise]")]
    return {"run": f"{len(loops)} busy loops" if busy else "quiet", "exit": proc.returncode, "seconds": seconds,
            "restarts": sum("restarting" in line for line in supervisor),
            "slow_not_hung": sum("slow, not hung" in line for line in supervisor),
            "idle_in_transaction_ended": postgres.count(IDLE_TIMEOUT_LINE), "supervisor": supervisor}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=EXECUTORS, default=os.environ.get("EXECUTOR", "local"))
    args = parser.parse_args()
    runs = [measured_run(args.executor, busy=False), measured_run(args.executor, busy=True)]
    for r in runs:
        r["x_quiet"] = r["seconds"] / runs[0]["seconds"]
    print(f"\nmake run ({args.executor} executor, {os.cpu_count()} cores, state {LOCAL}):")
    print(text_table(runs, {"run": "", "exit": "d", "seconds": ".1f", "x_quiet": ".2f", "restarts": "d",
                            "slow_not_hung": "d", "idle_in_transaction_ended": "d"}))
    for r in runs:
        for line in r["supervisor"]:
            print(f"  {r['run']}: {line}")
    return 0 if all(r["exit"] == 0 and r["restarts"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
