"""Load throughput of the contract load, both paths, against `psql \\copy` of the same files into the same server.

    .venv/bin/python -m scripts.bench_load [SCALE]      (default 10: about 70,000 charges, 19 MB)
    .venv/bin/python -m scripts.bench_load 1000 --all-bad   (one charge part file of 1000x, every row rejected)

Generates the charge part files of one day at SCALE times the default size and loads them from local
files with `load.load_day` (partition, constraints, dedup, swap) twice: as it runs (clean files go by
COPY) and with every file forced through the row reader (the path of a file with bad rows). Then
`\\copy`s the same files into a plain table of the same columns, and prints the rates and ratios. Runs
its own PostgreSQL on port 26434 with state in `.local/bench/` (stopped at the end). Without Airflow
or S3: `make bench` measures the whole pipeline.

With --all-bad: one charge part of SCALE (part 1 of 4, as one `upload_part` makes it) loaded by the
row reader in a forked process (as an Airflow task process is forked), then the same part with one
field added to every row, so every row is rejected (a long row): prints each load's seconds and peak
RSS (VmHWM) and their ratio. Rejected rows are streamed to the database as they are found, so the
peak stays where the clean part's is.
"""

import datetime as dt
import multiprocessing
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from include.finance import schema
from include.finance.contract import CHARGE  # noqa: E402
from include.finance.ingestion.mock_data import generate_mock_data  # noqa: E402
from include.finance.loading import load_day, load_file
from scripts.bench_copy import copy_baseline  # noqa: E402
from scripts.stack import LOCAL, Stack, settings  # noqa: E402


def read_file(path: Path):
    def chunks():
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                yield chunk

    return chunks


def all_bad(scale: float, folder: Path) -> tuple[Path, Path]:
    """One charge part of SCALE (part 1 of 4) as generated, and the same with one field more on every row."""
    from include.finance.ingestion.mock_data import write_part

    folder.mkdir(parents=True, exist_ok=True)
    clean, bad = folder / "charge_part_000.csv", folder / "all_bad_part_000.csv"
    with open(clean, "w", newline="") as charge, open(folder / "satisfaction.csv", "w", newline="") as survey:
        write_part({"charge": charge, "satisfaction": survey}, 0, logical_date=dt.date(2026, 1, 1), scale=scale)
    with open(clean, "rb") as source, open(bad, "wb") as target:
        target.write(source.readline())
        for line in source:
            target.write(line.rstrip(b"\n") + b",one field too many\n")
    return clean, bad


def vm_mb(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def load_in_a_fork(stack: Stack, path: Path, ds: str, row_reader: bool) -> tuple[float, float, load_file.FileAudit]:
    """Seconds, the peak RSS (VmHWM) of a forked process that loads `path` (as an Airflow task process
    is forked), and its audit."""
    receive, send = multiprocessing.Pipe(duplex=False)

    def run() -> None:
        if row_reader:
            load_file.copy_file = lambda *args: False
        conn = psycopg2.connect(stack.db_uri(settings.db_name))
        [audit] = load_day.load_day(conn, CHARGE, {str(path): read_file(path)}, ds, "bench", settings.db_schema)
        conn.close()
        send.send((vm_mb("VmHWM"), audit))

    started = time.perf_counter()
    child = multiprocessing.get_context("fork").Process(target=run)
    child.start()
    send.close()  # the child's end only: a child that fails closes it, and recv() ends
    try:
        peak, audit = receive.recv()
    except EOFError:
        peak = audit = None
    child.join()
    if child.exitcode or audit is None:
        raise SystemExit(f"the load of {path} failed (exit {child.exitcode})")
    return time.perf_counter() - started, peak, audit


def bench_all_bad(stack: Stack, scale: float) -> None:
    clean, bad = all_bad(scale, stack.state_dir / "all_bad")
    rows, megabytes = sum(1 for _ in open(bad, "rb")) - 1, bad.stat().st_size / 1e6
    conn = psycopg2.connect(stack.db_uri(settings.db_name))
    schema.create_tables(conn, settings.db_schema)
    conn.close()
    before = vm_mb("VmRSS")
    clean_seconds, clean_peak, clean_audit = load_in_a_fork(stack, clean, "2026-01-02", row_reader=True)
    bad_seconds, bad_peak, bad_audit = load_in_a_fork(stack, bad, "2026-01-03", row_reader=True)
    assert clean_audit.rows_rejected == 0 and bad_audit.rows_rejected == rows, (clean_audit, bad_audit)
    print(f"{rows:,} charge rows, {megabytes:.1f} MB (scale {scale:g}, one part of 4), row reader, each load in a"
          f" forked process (the process before: {before:.0f} MB)")
    print(f"clean part:        {clean_seconds:6.1f} s  peak RSS {clean_peak:5.0f} MB")
    print(f"every row rejected: {bad_seconds:6.1f} s  peak RSS {bad_peak:5.0f} MB  ({bad_peak / clean_peak:.2f} of the clean"
          f" part's; {rows:,} rejects streamed to load_rejects)")


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else 10.0
    stack = Stack(state_dir=LOCAL / "bench", pg_port=26434, s3_port=26902, web_port=28082,
                  health_port=28975)
    stack.start_postgres()
    try:
        if "--all-bad" in sys.argv:
            bench_all_bad(stack, scale)
            return
        files = generate_mock_data(stack.state_dir / "data", dt.date(2026, 1, 1), scale=scale)["charge"]
        rows = sum(1 for path in files for _ in open(path)) - len(files)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        conn = psycopg2.connect(stack.db_uri(settings.db_name))
        schema.create_tables(conn, settings.db_schema)
        started = time.perf_counter()
        load_day.load_day(conn, CHARGE, {str(p): read_file(p) for p in files}, "2026-01-01", "bench", settings.db_schema)
        contract_seconds = time.perf_counter() - started
        copy_file, load_file.copy_file = load_file.copy_file, lambda *args: False
        started = time.perf_counter()
        load_day.load_day(conn, CHARGE, {str(p): read_file(p) for p in files}, "2026-01-01", "bench", settings.db_schema)
        reader_seconds = time.perf_counter() - started
        load_file.copy_file = copy_file
        conn.close()
        copy_seconds = copy_baseline(stack, files, rounds=1)
    finally:
        stack.stop_postgres()
    print(f"{rows:,} charge rows, {megabytes:.1f} MB in {len(files)} files (scale {scale:g})")
    print(f"contract load, COPY path: {contract_seconds:6.2f} s  {rows / contract_seconds:10,.0f} rows/s"
          f"  ratio to \\copy {copy_seconds / contract_seconds:.2f}")
    print(f"contract load, row reader: {reader_seconds:6.2f} s  {rows / reader_seconds:10,.0f} rows/s"
          f"  ratio to \\copy {copy_seconds / reader_seconds:.2f}")
    print(f"psql \\copy:               {copy_seconds:6.2f} s  {rows / copy_seconds:10,.0f} rows/s")


if __name__ == "__main__":
    main()
