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


def manifest_key(kind: str, ds: str) -> str:
    return f"manifests/dt={ds}/{kind}.json"


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


def write_manifests(s3_hook, bucket: str, ds: str, uploads: list[dict[str, str]], kinds: tuple[str, ...]) -> list[str]:
    """Write one manifest per kind listing the uploaded keys; return the manifest keys."""
    written = []
    for kind in kinds:
        keys = [u["dest_key"] for u in uploads if u["dest_key"].startswith(partition_prefix(kind, ds))]
        body = json.dumps({"kind": kind, "ds": ds, "keys": keys}, indent=2)
        s3_hook.load_string(body, key=manifest_key(kind, ds), bucket_name=bucket, replace=True)
        written.append(manifest_key(kind, ds))
        log.info("s3://%s/%s: %d files", bucket, manifest_key(kind, ds), len(keys))
    return written
