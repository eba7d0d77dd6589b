"""The whole pipeline at N times the default data, stage by stage, against `psql \\copy` as the baseline.

    make bench SCALE=10          (= .venv/bin/python -m scripts.bench --scale 10)

    make bench SCALE=1 EXECUTOR=celery   (the same under the CeleryExecutor with two isolated workers)

Runs `make run`'s pipeline (real scheduler, LocalExecutor or Celery, PostgreSQL, moto's S3 server) on its own
stack (state in `.local/bench/`, its own ports, fresh each time) with `MOCK_DATA_SCALE=N`, and prints
per stage (ingest: generate and upload, load, transform, features, train, plot) and in total: wall seconds
(first task start to last task end, from Airflow's task instances), rows per second and the peak
RSS of the stage's largest task. Then, on the same files (downloaded from the bucket) and the same server, `psql \\copy` of every
input file into a plain table of the same columns (the faster of two rounds): the baseline for the load
and the load/COPY ratio (COPY seconds / load seconds, the load being the mapped `load_input_files` tasks).
And `psql \\copy` of the same files doing in PostgreSQL what the load asks of it (the contract's CHECK
constraints, line numbers, the primary key): the load/contract COPY ratio is what S3, Airflow and the
loader's Python add on top of the contract itself. Last, each page of the results dashboard on the day the run
left: its server time, cold and cached, against its SQL alone (`scripts/bench_dashboard.py`).

Peak RSS is each task process's VmHWM (Linux's high-water mark of its resident memory), read every
0.2 s from /proc while it runs; on Airflow 2 a task process is a fork of the scheduler, which has Airflow and
the tasks' libraries imported (`scripts/preload.py`), so it starts with their memory, shared with the
scheduler and the other tasks (the smallest task shows how much); on Airflow 3 (AIRFLOW=3) a task process
is forked by its supervisor, which the LocalExecutor's worker forks. Results also go to `.local/bench/bench_<N>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
from pathlib import Path

from include.finance.contract import CONTRACTS
from include.finance.ingestion.bucket import partition_prefix
from include.finance.report import text_table
from scripts.bench_copy import contract_copy_baseline, copy_baseline
from scripts.bench_dashboard import page_seconds, report
from scripts.stack import EXECUTORS, LOCAL, Stack, log, run_pipeline, s3_client, settings
from scripts.stack.api import run_task_instances

STATE = LOCAL / "bench" / "pipeline"
# stage -> task ids (before any "." of a task group); `cleanup` (each run's teardown) counts in the total only
STAGES = {
    "ingest": ["create_bucket", "clear_partition", "plan_parts", "upload_part", "write_manifests"],
    "load": ["check_input_files", "create_tables", "load_input_files", "check_loaded"],
    "transform": ["audit_model_input", "check_model_input", "select_successful_charges", "avg_successful_per_customer", "join_charge_satisfaction",
                  "check_model_satisfaction", "publish_model_satisfaction"],
    "features": ["select_model_rows", "split_train_test"],
    "train": ["train_model_task"],
    "plot": ["store_metrics", "plot_model_results", "plot_comparison", "publish_best_model"],
}
# The process title Airflow gives a running task: Airflow 2's StandardTaskRunner names its DAG and task,
# Airflow 3's task runner the task instance's id (which the REST API's task instances have too).
TITLES = ("airflow task runner: ", "airflow worker -- ")


class PeakRSS(threading.Thread):
    """Samples the VmHWM of every Airflow task process: the largest per (dag_id, task_id) on Airflow 2, per
    task instance id on Airflow 3 (`by_task` turns those into (dag_id, task_id))."""

    def __init__(self, every: float = 0.2):
        super().__init__(daemon=True)
        self.every = every
        self.peaks: dict[tuple[str, str] | str, int] = {}
        self.stopped = threading.Event()

    def by_task(self, tis: list[dict]) -> dict[tuple[str, str], int]:
        task_of = {ti.get("id"): (ti["dag_id"], ti["task_id"]) for ti in tis}
        peaks: dict[tuple[str, str], int] = {}
        for key, peak in self.peaks.items():
            task = task_of.get(key) if isinstance(key, str) else key
            if task:
                peaks[task] = max(peaks.get(task, 0), peak)
        return peaks

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    prefix = next((prefix for prefix in TITLES if title.startswith(prefix)), None)
                    if prefix is None:
                        continue
                    words = title[len(prefix):].split()
                    key = tuple(words[:2]) if prefix == TITLES[0] else words[0]
                    status = (proc / "status").read_text()
                except (FileNotFoundError, ProcessLookupError, ValueError):
                    continue
                kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                self.peaks[key] = max(self.peaks.get(key, 0), kib * 1024)


def wall_seconds(tis: list[dict]) -> float:
    """From the first start to the last end of these task instances."""
    done = [t for t in tis if t["start_date"] and t["end_date"]]
    return (max(dt.datetime.fromisoformat(t["end_date"]) for t in done)
            - min(dt.datetime.fromisoformat(t["start_date"]) for t in done)).total_seconds()


def stage_table(tis: list[dict], peaks: dict[tuple[str, str], int], rows: dict[str, int]) -> list[dict]:
    table = []
    for stage, task_ids in STAGES.items():
        mine = [ti for ti in tis if ti["task_id"].split(".")[0] in task_ids and ti["start_date"] and ti["end_date"]]
        if not mine:
            continue
        seconds = wall_seconds(mine)
        largest = max(((peak, task) for (_dag, task), peak in peaks.items() if task.split(".")[0] in task_ids),
                      default=(0, ""))
        table.append({"stage": stage, "seconds": round(seconds, 1), "rows": rows[stage],
                      "rows_per_s": round(rows[stage] / seconds) if seconds else 0,
                      "peak_rss_mb": round(largest[0] / 2**20), "largest_task": largest[1]})
    total = wall_seconds(tis)
    largest = max(table, key=lambda r: r["peak_rss_mb"])
    table.append({"stage": "total", "seconds": round(total, 1), "rows": rows["ingest"],
                  "rows_per_s": round(rows["ingest"] / total), "peak_rss_mb": largest["peak_rss_mb"],
                  "largest_task": largest["largest_task"]})
    return table


def download_day(stack: Stack, ds: str, folder: Path) -> list[Path]:
    """The day's input files, from the bucket into `folder`/<kind>/ (for the psql baselines)."""
    client, bucket, files = s3_client(stack), settings.data_bucket_name, []
    for kind in CONTRACTS:
        prefix = partition_prefix(kind, ds)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                files.append(folder / kind / item["Key"].rsplit("/", 1)[1])  # <kind>/<file>, as the baselines read
                files[-1].parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(files[-1]))
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="times the default data (MOCK_DATA_SCALE)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the pipeline (default 900 + 4 x scale)")
    parser.add_argument("--executor", choices=EXECUTORS, default=os.environ.get("EXECUTOR") or "local")
    args = parser.parse_args(argv)
    shutil.rmtree(STATE, ignore_errors=True)
    stack = Stack(state_dir=STATE, pg_port=26440, s3_port=26910, web_port=28090, health_port=28980, redis_port=26380,
                  mlflow_port=26500, dashboard_port=28501, executor=args.executor,
                  extra_env={"MOCK_DATA_SCALE": f"{args.scale:g}"})
    measured: dict = {}

    def after(stack: Stack, runs: dict) -> None:
        measured["tis"] = [ti for run in runs.values() for ti in run_task_instances(stack, run)]
        ds = runs["in_finance_data"]["logical_date"][:10]
        files = download_day(stack, ds, STATE / "input")
        log(f"psql \\copy of the same {len(files)} files into the same server")
        measured["copy_seconds"] = copy_baseline(stack, files)
        log("psql \\copy of the same files under the contract (checks, line numbers, primary key)")
        measured["contract_copy_seconds"] = contract_copy_baseline(stack, files, ds)
        measured["input_bytes"] = sum(p.stat().st_size for p in files)
        measured["mlflow_rss"] = service_peak_rss(stack, "mlflow")
        measured["dashboard"] = page_seconds(stack, STATE / "screenshots")

    sampler = PeakRSS()
    sampler.start()
    summary = run_pipeline(stack, timeout=args.timeout or 900 + 4 * args.scale, summary_path=STATE / "summary.json",
                           after=after)
    sampler.stopped.set()
    sampler.join()

    tables, card_rows = summary["tables"], summary["model_card"]["rows"]
    inputs = sum(tables[contract.table] for contract in CONTRACTS.values())
    rows = {"ingest": inputs, "load": inputs, "transform": tables[CONTRACTS["charge"].table],
            "features": tables["model_satisfaction"], "train": card_rows["train"], "plot": card_rows["train"]}
    peaks = sampler.by_task(measured["tis"])
    stages = stage_table(measured["tis"], peaks, rows)
    load_seconds = wall_seconds([t for t in measured["tis"] if t["task_id"] == "load_input_files"])
    smallest = min(peaks.items(), key=lambda item: item[1])
    result = {
        "scale": args.scale,
        "executor": args.executor,
        "input_rows": inputs,
        "input_mb": round(measured["input_bytes"] / 1e6, 1),
        "stages": stages,
        "load_seconds": round(load_seconds, 1),
        "copy_seconds": round(measured["copy_seconds"], 1),
        "load_copy_ratio": round(measured["copy_seconds"] / load_seconds, 2),
        "contract_copy_seconds": round(measured["contract_copy_seconds"], 1),
        "load_contract_copy_ratio": round(measured["contract_copy_seconds"] / load_seconds, 2),
        "smallest_task": {"task": smallest[0][1], "peak_rss_mb": round(smallest[1] / 2**20)},
        "models": summary["models"],
        "finance_ml_seconds": summary["durations"]["finance_ml"],
        "mlflow_peak_rss_mb": measured["mlflow_rss"],
        "dashboard_pages": measured["dashboard"],
    }
    (STATE.parent / f"bench_{args.scale:g}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nscale {args.scale:g}, {args.executor} executor: {inputs:,} input rows, {result['input_mb']} MB of CSV")
    print(text_table(stages, {"stage": "", "seconds": ".1f", "rows": ",d", "rows_per_s": ",d", "peak_rss_mb": "d",
                              "largest_task": ""}))
    print(f"load (load_input_files) {result['load_seconds']} s, psql \\copy {result['copy_seconds']} s:"
          f" {inputs / load_seconds:,.0f} vs {inputs / measured['copy_seconds']:,.0f} rows/s,"
          f" load/COPY ratio {result['load_copy_ratio']}")
    print(f"psql \\copy under the contract {result['contract_copy_seconds']} s:"
          f" load/contract COPY ratio {result['load_contract_copy_ratio']},"
          f" contract COPY/COPY {measured['copy_seconds'] / measured['contract_copy_seconds']:.2f}")
    print(f"smallest task: {result['smallest_task']['task']} {result['smallest_task']['peak_rss_mb']} MB"
          f" (what any task process starts with)")
    print(f"finance_ml's run: {result['finance_ml_seconds']} s; the MLflow server's peak RSS: "
          f"{result['mlflow_peak_rss_mb']['largest']} MB its largest process, {result['mlflow_peak_rss_mb']['all']} MB"
          f" all {result['mlflow_peak_rss_mb']['processes']} of its processes")
    report(result["dashboard_pages"])
    print(f"results: {STATE.parent / f'bench_{args.scale:g}.json'}")
    return 0


def service_peak_rss(stack: Stack, name: str) -> dict:
    """The peak RSS (VmHWM) of a service's processes so far: of the largest one and their sum, in MB."""
    from scripts.stack.common import process_tree

    peaks = []
    for proc in process_tree(int(stack.pid_file(name).read_text())):
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return {"largest": round(max(peaks) / 2**20), "all": round(sum(peaks) / 2**20), "processes": len(peaks)}


if __name__ == "__main__":
    sys.exit(main())
