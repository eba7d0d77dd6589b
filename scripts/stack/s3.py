"""The stack's S3 endpoint: moto's server. It keeps objects in memory only, so `down` saves them to
<state>/s3/<bucket>/<key> and `up` uploads them again."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .common import StackError, http_ok, log, wait_for

REGION = "us-east-1"


def s3_client(stack):
    """boto3's S3 client on the stack's endpoint, with the keys of its Airflow connection."""
    import boto3

    aws = stack.aws_connection()
    return boto3.client("s3", endpoint_url=aws["extra"]["endpoint_url"], region_name=aws["extra"]["region_name"],
                        aws_access_key_id=aws["login"], aws_secret_access_key=aws["password"])


def inside(folder: Path, key: str) -> Path:
    """`folder / key`, for an S3 bucket name or object key saved to disk (`down`'s save, `make run`'s plots, the
    end-to-end tests' artifacts). A key is any text: one that is absolute or has an empty, `.` or `..` part
    (`a/../../x`, `/etc/x`, `a//b`) is refused, as it could be written outside `folder` or onto another key's file."""
    target, root = (folder / key).resolve(), folder.resolve()
    parts = set(key.split("/"))
    if key.startswith("/") or {"", ".", ".."} & parts or target == root or not target.is_relative_to(root):
        raise StackError(f"refusing to save S3 key {key!r}: it would be written outside {folder} or onto another key")
    return folder / key


class S3:
    """The endpoint's part of `Stack` (which gives `state_dir`, `s3_port` and its process helpers)."""

    state_dir: Path
    s3_port: int

    def aws_connection(self) -> dict:
        """The Airflow connection to the endpoint (moto takes any keys)."""
        return {"conn_type": "aws", "login": "local-access-key", "password": "local-secret-key",
                "extra": {"endpoint_url": f"http://127.0.0.1:{self.s3_port}", "region_name": REGION}}

    @property
    def s3_saved(self) -> Path:
        return self.state_dir / "s3"

    def start_s3(self) -> None:
        moto = Path(sys.executable).parent / "moto_server"
        self._spawn("s3", [str(moto), "-H", "127.0.0.1", "-p", str(self.s3_port)], port=self.s3_port)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.s3_port}/"), 30, "the S3 endpoint (moto)",
                 self.log_dir / "s3.log")
        log(f"S3 API (moto) on http://127.0.0.1:{self.s3_port}")

    def stop_s3(self) -> None:
        self._stop("s3")

    def save_s3(self) -> None:
        """Copy every object to <state>/s3/<bucket>/<key>; what an earlier `down` saved is replaced once all is saved."""
        if not self._alive("s3"):
            return
        client, saving, count = s3_client(self), self.state_dir / "s3.saving", 0
        shutil.rmtree(saving, ignore_errors=True)
        saving.mkdir(parents=True)
        for bucket in client.list_buckets()["Buckets"]:
            folder = inside(saving, bucket["Name"])
            folder.mkdir(parents=True)
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        target = inside(folder, item["Key"])
                        target.parent.mkdir(parents=True, exist_ok=True)
                        client.download_file(bucket["Name"], item["Key"], str(target))
                        count += 1
        shutil.rmtree(self.s3_saved, ignore_errors=True)
        saving.rename(self.s3_saved)
        log(f"saved {count} objects of the S3 endpoint to {self.s3_saved}")

    def restore_s3(self, skip: tuple[str, ...] = ()) -> None:
        """Upload what `save_s3` saved, except keys starting with one of `skip`."""
        if not self.s3_saved.is_dir():
            return
        client, count = s3_client(self), 0
        for bucket in sorted(self.s3_saved.iterdir()):
            client.create_bucket(Bucket=bucket.name)
            for path in sorted(p for p in bucket.rglob("*") if p.is_file()):
                key = path.relative_to(bucket).as_posix()
                if not key.startswith(skip):
                    client.upload_file(str(path), bucket.name, key)
                    count += 1
        log(f"restored {count} objects from {self.s3_saved}")
