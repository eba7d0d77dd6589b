"""Days whose rows trip finance_elt's quality gates, run through the DAG after the pipeline run (a scenario of
`run_local` in conftest.py): files put in the bucket with their manifests (as in_finance_data writes them)
and finance_elt triggered for the day. Each day loads, and stops at the gates it trips, whose task log
says what the gate measured against what it allows (tests/e2e/test_gates_explained.py reads them)."""

import datetime as dt
import json
import re
import tempfile
import urllib.parse
from pathlib import Path

from scripts.stack import AIRFLOW_3

CHARGE_HEADER = b"id,amount,amount_captured,currency,created,customer_id,paid,status\n"
SURVEY_HEADER = (b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,"
                 b"product_type\n")


def charge_rows(customers, amounts: dict | None = None) -> bytes:
    """A successful usd charge ch_<n> of cus_<n> per customer number, of 1000 cents or its `amounts[n]`."""
    def row(n: int) -> bytes:
        amount = (amounts or {}).get(n, 1000)
        return b"ch_%d,%d,%d,usd,1767225600,cus_%d,true,succeeded\n" % (n, amount, amount, n)
    return b"".join(row(n) for n in customers)


def survey_rows(customers) -> bytes:
    return b"".join(b"cus_%d,5,5,5,basic\n" % n for n in customers)


def _rejecting_charges() -> bytes:
    """20 charges, the 3rd and the 8th (lines 4 and 9) with an amount the contract rejects."""
    lines = charge_rows(range(1, 21)).splitlines(keepends=True)
    lines[2] = lines[2].replace(b",1000,1000,", b",abc,1000,")
    lines[7] = lines[7].replace(b",1000,1000,", b",-3,1000,")
    return CHARGE_HEADER + b"".join(lines)


GATE_DAYS = {
    # day: {"files": {(kind, file): bytes}, "fails": {gate task: its message}, "passes": gates that pass}
    "2026-01-05": {  # check_loaded: a tenth of the charges rejected, a survey file with its header only
        "files": {("charge", "part.csv"): _rejecting_charges(), ("satisfaction", "part.csv"): SURVEY_HEADER},
        "fails": {
            "check_loaded.check_charge_rejected_share":
                "2 of 20 charge rows read on 2026-01-05 (10 %) were rejected, more than MAX_REJECTED_SHARE 5 %;"
                " rejected in: part.csv 2 of 20 rows (line 4: amount: not a non-negative integer: 'abc')",
            "check_loaded.check_in_satisfaction_rows":
                "in_satisfaction has 0 survey answers on 2026-01-05, fewer than MIN_INPUT_ROWS 1;"
                " satisfaction files that day: part.csv (header only)",
            "check_loaded.check_in_satisfaction_columns":
                "in_satisfaction has no survey answers on 2026-01-05: nothing to check, an empty day fails its gates;"
                " satisfaction files that day: part.csv (header only)",
        },
        "passes": ["check_loaded.check_in_charge_columns", "check_loaded.check_in_charge_rows",
                   "check_loaded.check_satisfaction_rejected_share"],
    },
    "2026-01-06": {  # check_model_input: two charges with a unit error, a charge file emptied (its rows lost)
        "files": {("charge", "part_000.csv"): CHARGE_HEADER + charge_rows(range(1, 96), amounts={1: 900_000_000_000,
                                                                                                2: 900_000_000_000}),
                  ("charge", "part_001.csv"): b"",
                  ("satisfaction", "part_000.csv"): SURVEY_HEADER + survey_rows(range(1, 106))},
        "fails": {
            "check_model_input":
                "2 of 95 successful usd charges (2.1 %) are above MAX_CHARGE_AMOUNT 10,000,000 on 2026-01-06,"
                " more than MAX_IMPLAUSIBLE_SHARE 1 %; the largest: ch_1 900,000,000,000 (part_000.csv line 2),"
                " ch_2 900,000,000,000 (part_000.csv line 3)\n"
                "10 of 105 survey answers (9.5 %) have no charge on 2026-01-06, more than MAX_ORPHAN_SHARE 5 %;"
                " charge files without rows that day: part_001.csv (empty)",
        },
        "passes": ["check_loaded.check_in_charge_columns", "check_loaded.check_in_charge_rows",
                   "check_loaded.check_charge_rejected_share", "check_loaded.check_in_satisfaction_columns",
                   "check_loaded.check_in_satisfaction_rows", "check_loaded.check_satisfaction_rejected_share"],
    },
    "2026-01-07": {  # check_model_satisfaction: a day of twelve customers
        "files": {("charge", "part.csv"): CHARGE_HEADER + charge_rows(range(1, 13)),
                  ("satisfaction", "part.csv"): SURVEY_HEADER + survey_rows(range(1, 13))},
        "fails": {
            "check_model_satisfaction.check_model_satisfaction_rows":
                "model_satisfaction_staging has 12 customers on 2026-01-07, fewer than MIN_MODEL_ROWS 50;"
                " the day has 12 successful charges and 12 survey answers",
        },
        "passes": ["check_model_input", "check_model_satisfaction.check_model_satisfaction_columns"],
    },
}


def failure_message(log: str) -> str | None:
    """The message of the GateFailed a task log ends with: Airflow 2's log has the traceback as text, Airflow
    3's is a JSON object per line with the exception in `error_detail`."""
    if AIRFLOW_3:
        found = [error["exc_value"] for line in log.splitlines() if line.startswith("{")
                 for error in json.loads(line).get("error_detail") or [] if error["exc_type"].endswith("GateFailed")]
    else:
        found = re.findall(r"(?ms)^\S*GateFailed: (.*?)\n(?=\[\d{4}-)", log)
    return found[-1] if found else None


def _manifest_rows(body: bytes) -> int:
    """What in_finance_data lists for a file (storage.data_rows)."""
    from include.finance.ingestion.bucket import data_rows

    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(body)
        file.flush()
        return data_rows(Path(file.name))


def _finished(stack, run_id: str) -> str | None:
    state = stack.api("GET", f"dags/finance_elt/dagRuns/{urllib.parse.quote(run_id)}")["state"]
    return state if state in ("success", "failed") else None


def _temporary_tables(stack) -> list[str]:
    import psycopg2

    with psycopg2.connect(stack.db_uri("finance")) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables"
                    " WHERE table_name LIKE '\\_tmp%%'")
        found = [name for (name,) in cur.fetchall()]
    conn.close()
    return found


def run_gate_days(stack) -> dict:
    """Each of GATE_DAYS through finance_elt: its run's state, its tasks' states and tries, and the log of each
    gate task that failed; the temporary tables left after the last day."""
    from include.finance.ingestion.bucket import manifest_key, partition_prefix
    from scripts.stack import s3_client, settings, trigger, wait_for

    client, bucket, found, runs = s3_client(stack), settings.data_bucket_name, {}, {}
    for day, scenario in GATE_DAYS.items():  # every day's files and run first: the runs wait their turn (one at a time)
        listed = {"charge": [], "satisfaction": []}
        for (kind, name), body in scenario["files"].items():
            key = partition_prefix(kind, day) + name
            client.put_object(Bucket=bucket, Key=key, Body=body)
            listed[kind].append({"key": key, "rows": _manifest_rows(body), "bytes": len(body)})
        for kind, entries in listed.items():
            client.put_object(Bucket=bucket, Key=manifest_key(kind, day), Body=json.dumps(
                {"kind": kind, "ds": day, "keys": [e["key"] for e in entries], "files": entries}).encode())
        runs[day] = trigger(stack, "finance_elt", dt.datetime.fromisoformat(f"{day}T00:00:00+00:00"))
    for day, run in runs.items():
        state = wait_for(lambda: _finished(stack, run["dag_run_id"]), 600, f"finance_elt for {day}", every=2)
        tis = stack.api("GET", f"dags/finance_elt/dagRuns/{urllib.parse.quote(run['dag_run_id'])}/taskInstances?limit=100")
        logs = {}
        for ti in tis["task_instances"]:
            log = (stack.airflow_home / "logs" / "dag_id=finance_elt" / f"run_id={run['dag_run_id']}"
                   / f"task_id={ti['task_id']}" / "attempt=1.log")
            if ti["state"] == "failed" and log.exists():
                logs[ti["task_id"]] = log.read_text()
        found[day] = {"state": state, "tasks": {ti["task_id"]: ti["state"] for ti in tis["task_instances"]},
                      "tries": {ti["task_id"]: ti["try_number"] for ti in tis["task_instances"]}, "logs": logs}
    found["temporary_tables_after"] = _temporary_tables(stack)
    return found
