"""Object-storage layout of the input files, shared by the ingestion and the ELT DAG.

    <kind>/dt=<YYYY-MM-DD>/<file>.csv      the day's part files of one kind (charge, satisfaction)
    manifests/dt=<YYYY-MM-DD>/<kind>.json  written after every part is uploaded: the partition is complete
    <ML_ARTIFACTS_PREFIX>/<run>/           finance_ml's results of one run: model.joblib, model_card.json,
                                           plots/<model>.png, plots/comparison.png

Keys carry the logical date, so a rerun overwrites its own day and a backfill adds days.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def partition_prefix(kind: str, ds: str) -> str:
    return f"{kind}/dt={ds}/"


MANIFESTS_PREFIX = "manifests/"


def manifest_key(kind: str, ds: str) -> str:
    return f"{MANIFESTS_PREFIX}dt={ds}/{kind}.json"


def ml_run_prefix(prefix: str, ts_nodash: str) -> str:
    """Where one finance_ml run keeps its model, model card and plots (ts_nodash: the run's logical date)."""
    return f"{prefix}/{ts_nodash}/"


def upload_kwargs(files: dict[str, list[str]], ds: str) -> list[dict[str, str]]:
    """One {filename, dest_key} per local file, for a mapped LocalFilesystemToS3Operator."""
    return [
        {"filename": str(path), "dest_key": partition_prefix(kind, ds) + Path(path).name}
        for kind, paths in sorted(files.items())
        for path in paths
    ]


def input_files(folder: Path, kinds: tuple[str, ...]) -> dict[str, list[str]]:
    """The user's CSVs in `<folder>/<kind>/*.csv`; every kind must have at least one file."""
    found = {kind: sorted(str(p) for p in (folder / kind).glob("*.csv")) for kind in kinds}
    missing = [str(folder / kind) for kind, paths in found.items() if not paths]
    if missing:
        raise FileNotFoundError(f"no *.csv files in {', '.join(missing)} (expected <dir>/<kind>/*.csv)")
    return found


def clear_partition(s3_hook, bucket: str, ds: str, kinds: tuple[str, ...]) -> int:
    """Delete a day's part files and manifests, so a rerun leaves no stale parts behind."""
    keys = []
    for kind in kinds:
        keys += s3_hook.list_keys(bucket_name=bucket, prefix=partition_prefix(kind, ds)) or []
        keys += s3_hook.list_keys(bucket_name=bucket, prefix=manifest_key(kind, ds)) or []
    if keys:
        s3_hook.delete_objects(bucket=bucket, keys=keys)
    log.info("cleared %d old objects of dt=%s in s3://%s", len(keys), ds, bucket)
    return len(keys)


def data_rows(path: str | Path) -> int:
    """Lines after a CSV file's header (its rows, unless a quoted field holds a line break), read in 1 MiB blocks."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def write_manifests(s3_hook, bucket: str, ds: str, uploads: list[dict[str, str]], kinds: tuple[str, ...]) -> list[str]:
    """Check every upload against its local file, then write one manifest per kind listing the keys
    (with rows and bytes per file); return the manifest keys.

    Raises ValueError naming the object when one is missing or its size differs from the local file's.
    """
    files = []
    for upload in uploads:
        local = Path(upload["filename"])
        head = s3_hook.head_object(key=upload["dest_key"], bucket_name=bucket)
        size = local.stat().st_size
        if head is None or head["ContentLength"] != size:
            found = "missing" if head is None else f"{head['ContentLength']} bytes"
            raise ValueError(f"s3://{bucket}/{upload['dest_key']}: {found} in object storage, {size} bytes in {local}")
        files.append({"key": upload["dest_key"], "rows": data_rows(local), "bytes": size})
        log.info("s3://%s/%s: %d rows, %d bytes uploaded", bucket, upload["dest_key"], files[-1]["rows"], size)
    written = []
    for kind in kinds:
        parts = [f for f in files if f["key"].startswith(partition_prefix(kind, ds))]
        body = {"kind": kind, "ds": ds, "keys": [f["key"] for f in parts], "files": parts}
        s3_hook.load_string(json.dumps(body, indent=2), key=manifest_key(kind, ds), bucket_name=bucket, replace=True)
        written.append(manifest_key(kind, ds))
        log.info("s3://%s/%s: %d files, %d rows", bucket, manifest_key(kind, ds), len(parts),
                 sum(f["rows"] for f in parts))
    return written
