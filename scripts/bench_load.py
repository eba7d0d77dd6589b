"""Load throughput of the contract load, both paths, against `psql \\copy` of the same files into the same server.

    .venv/bin/python scripts/bench_load.py [SCALE]      (default 10: about 70,000 charges, 19 MB)

Generates the charge part files of one day at SCALE times the default size and loads them from local
files with `load.load_day` (partition, constraints, dedup, swap) twice: as it runs (clean files go by
COPY) and with every file forced through the row reader (the path of a file with bad rows). Then
`\\copy`s the same files into a plain table of the same columns, and prints the rates and ratios. Runs
its own PostgreSQL on port 26434 with state in `.local/bench/` (stopped at the end). Without Airflow
or S3: `make bench` measures the whole pipeline.
"""

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import psycopg2  # noqa: E402
from stack import Stack, find_pg_bin  # noqa: E402

from include.finance import load  # noqa: E402
from include.finance.contract import CHARGE  # noqa: E402
from include.finance.mock_data import generate_mock_data  # noqa: E402


def read_file(path: Path):
    def chunks():
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                yield chunk

    return chunks


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    stack = Stack(state_dir=ROOT / ".local" / "bench", pg_port=26434, s3_port=26902, web_port=28082,
                  health_port=28975)
    stack.start_postgres()
    try:
        files = generate_mock_data(stack.state_dir / "data", dt.date(2026, 1, 1), scale=scale)["charge"]
        rows = sum(1 for path in files for _ in open(path)) - len(files)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        conn = psycopg2.connect(stack.db_uri("finance"))
        load.create_tables(conn, "public")
        started = time.perf_counter()
        load.load_day(conn, CHARGE, {str(p): read_file(p) for p in files}, "2026-01-01", "bench", "public")
        contract_seconds = time.perf_counter() - started
        copy_file, load._copy_file = load._copy_file, lambda *args: False
        started = time.perf_counter()
        load.load_day(conn, CHARGE, {str(p): read_file(p) for p in files}, "2026-01-01", "bench", "public")
        reader_seconds = time.perf_counter() - started
        load._copy_file = copy_file
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS copy_baseline")
            cur.execute("CREATE TABLE copy_baseline (LIKE in_charge)")
            cur.execute("ALTER TABLE copy_baseline DROP COLUMN ds, DROP COLUMN source_file, DROP COLUMN source_line")
        conn.close()
        started = time.perf_counter()
        for path in files:
            subprocess.run([str(find_pg_bin() / "psql"), stack.db_uri("finance", password=False), "-qc",
                            f"\\copy copy_baseline FROM '{path}' CSV HEADER"], check=True, env=stack.psql_env())
        copy_seconds = time.perf_counter() - started
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
