"""Object-storage layout of the input files, shared by the ingestion and the ELT DAG.

    <kind>/dt=<YYYY-MM-DD>/<file>.csv      the day's part files of one kind (charge, satisfaction)
    manifests/dt=<YYYY-MM-DD>/<kind>.json  written after every part is uploaded: the partition is complete
    <ML_ARTIFACTS_PREFIX>/<run>/           finance_ml's results of one run: model_card.json,
                                           training_rows.csv.gz, plots/<model>.png, plots/comparison.png,
                                           plots/monitoring.png (the models are in MLflow: tracking.py)

Keys carry the logical date, so a rerun overwrites its own day and a backfill adds days.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)


def partition_prefix(kind: str, ds: str) -> str:
    return f"{kind}/dt={ds}/"


MANIFESTS_PREFIX = "manifests/"


def manifest_key(kind: str, ds: str) -> str:
    return f"{MANIFESTS_PREFIX}dt={ds}/{kind}.json"


def ml_run_prefix(prefix: str, run_key: str) -> str:
    """Where one finance_ml run keeps its model card, training rows and plots (`run_key`: the run's key, `run_context.run_key`)."""
    return f"{prefix}/{run_key}/"


def input_files(folder: Path, kinds: tuple[str, ...]) -> dict[str, list[str]]:
    """The user's CSVs in `<folder>/<kind>/*.csv` or `*.csv.gz`; every kind must have at least one file."""
    found = {kind: sorted(str(p) for pattern in ("*.csv", "*.csv.gz") for p in (folder / kind).glob(pattern))
             for kind in kinds}
    missing = [str(folder / kind) for kind, paths in found.items() if not paths]
    if missing:
        raise FileNotFoundError(f"no *.csv or *.csv.gz files in {', '.join(missing)} (expected <dir>/<kind>/*.csv)")
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
    """Lines after a CSV file's header (its rows, unless a quoted field holds a line break), read in 1 MiB
    blocks (decompressed for .gz): what its manifest lists and the load checks."""
    lines, last = 0, b"\n"
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def plan_parts(input_dir: Path | None, kinds: tuple[str, ...], parts: int) -> list[dict]:
    """What each mapped `upload_part` task produces: one of the user's files ({"kind", "file"}) when
    there is an input folder, else one generated part number ({"part"}) holding every kind."""
    if input_dir is None:
        return [{"part": part} for part in range(parts)]
    return [{"kind": kind, "file": path} for kind, paths in input_files(input_dir, kinds).items() for path in paths]


UPLOAD_PART_BYTES = 8 << 20  # a multipart upload's part (S3 wants at least 5 MiB but for the last)


class _MultipartSink(io.RawIOBase):
    """Bytes written here go to s3://bucket/key: in parts of UPLOAD_PART_BYTES as a multipart upload,
    or as one PUT when they never fill a part. Holds at most one part in memory."""

    def __init__(self, client, bucket: str, key: str):
        super().__init__()
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer, self.parts, self.upload_id, self.size = bytearray(), [], None, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= UPLOAD_PART_BYTES:
            self._send_part()
        return len(data)

    def _send_part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        sent = self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                       PartNumber=number, Body=bytes(self.buffer))
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})
        self.buffer.clear()

    def finish(self) -> None:
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._send_part()
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                              MultipartUpload={"Parts": self.parts})

    def abort(self) -> None:
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class S3TextUpload:
    """A UTF-8 text file streamed straight to s3://bucket/key, nothing on local disk:

        with S3TextUpload(client, bucket, key) as f:
            frame.to_csv(f)
        upload.size  # bytes uploaded

    The object appears when the block ends without an error; on an error the upload is aborted.
    """

    def __init__(self, client, bucket: str, key: str):
        self._sink = _MultipartSink(client, bucket, key)
        self._file = io.TextIOWrapper(io.BufferedWriter(self._sink, 1 << 20), encoding="utf-8", newline="")

    @property
    def size(self) -> int:
        return self._sink.size

    def __enter__(self) -> TextIO:
        return self._file

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None:
                self._file.flush()
                self._sink.finish()
            else:
                self._sink.abort()
        finally:
            self._file.close()


def part_name(kind: str, part: int) -> str:
    """The file name of a generated part: charge_part_000.csv"""
    return f"{kind}_part_{part:03d}.csv"


def upload_part(s3_hook, bucket: str, ds: str, part: dict, kinds: tuple[str, ...], write_part) -> list[dict]:
    """Produce one part of the day in object storage and report it: [{"key", "rows", "bytes"}, ...].

    `part` comes from `plan_parts`: a user's file is uploaded as it is; a generated part is written by
    `write_part(files, part_number) -> rows per kind` straight into one streamed upload per kind.
    """
    if "file" in part:
        path = Path(part["file"])
        key = partition_prefix(part["kind"], ds) + path.name
        s3_hook.load_file(str(path), key, bucket_name=bucket, replace=True)
        reports = [{"key": key, "rows": data_rows(path), "bytes": path.stat().st_size}]
    else:
        keys = {kind: partition_prefix(kind, ds) + part_name(kind, part["part"]) for kind in kinds}
        uploads = {kind: S3TextUpload(s3_hook.get_conn(), bucket, key) for kind, key in keys.items()}
        with contextlib.ExitStack() as stack:
            rows = write_part({kind: stack.enter_context(u) for kind, u in uploads.items()}, part["part"])
        reports = [{"key": keys[kind], "rows": rows[kind], "bytes": uploads[kind].size} for kind in kinds]
    for report in reports:
        log.info("s3://%s/%s: %d rows, %d bytes uploaded", bucket, report["key"], report["rows"], report["bytes"])
    return reports


def write_manifests(s3_hook, bucket: str, ds: str, reports: list[dict], kinds: tuple[str, ...]) -> list[str]:
    """Check every reported upload against its object (HEAD), then write one manifest per kind listing
    the keys (with rows and bytes per file); return the manifest keys.

    Raises ValueError naming the object when one is missing or its size differs from the reported one.
    """
    files = sorted(reports, key=lambda report: report["key"])
    for report in files:
        head = s3_hook.head_object(key=report["key"], bucket_name=bucket)
        if head is None or head["ContentLength"] != report["bytes"]:
            found = "missing" if head is None else f"{head['ContentLength']} bytes"
            raise ValueError(f"s3://{bucket}/{report['key']}: {found} in object storage, "
                             f"{report['bytes']} bytes reported by its upload")
    written = []
    for kind in kinds:
        parts = [f for f in files if f["key"].startswith(partition_prefix(kind, ds))]
        body = {"kind": kind, "ds": ds, "keys": [f["key"] for f in parts], "files": parts}
        s3_hook.load_string(json.dumps(body, indent=2), key=manifest_key(kind, ds), bucket_name=bucket, replace=True)
        written.append(manifest_key(kind, ds))
        log.info("s3://%s/%s: %d files, %d rows", bucket, manifest_key(kind, ds), len(parts),
                 sum(f["rows"] for f in parts))
    return written
