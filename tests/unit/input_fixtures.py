"""What the tests of the input files and of both editions' load operators share: the day's objects on
moto's S3, and the load itself replaced by a recorder."""

import gzip
import json
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from include.finance import connections
from include.finance.config import Settings
from include.finance.loading import load_day

SAT_HEADER = b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,product_type\n"
DS = "2026-11-20"
SETTINGS = Settings(aws_conn_id="aws_test", db_conn_id="postgres_test", db_schema="odd schema", data_bucket_name="bucket")


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_TEST", json.dumps({"conn_type": "aws", "login": "k", "password": "s"}))
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_TEST", "postgresql://u:p@db.example:5432/finance")
    with mock_aws():
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = boto3.client("s3")
        client.create_bucket(Bucket="bucket")
        yield client, S3Hook(aws_conn_id="aws_test")


def put(client, key: str, body: bytes) -> None:
    client.put_object(Bucket="bucket", Key=key, Body=body)


def put_manifest(client, kind: str, rows: dict[str, int]) -> str:
    files = [{"key": f"{kind}/dt={DS}/{name}", "rows": n, "bytes": 0} for name, n in rows.items()]
    put(client, f"manifests/dt={DS}/{kind}.json", json.dumps({"kind": kind, "ds": DS, "files": files}).encode())
    return f"s3://bucket/manifests/dt={DS}/{kind}.json"


CHARGE_HEADER = b"id,amount,amount_captured,currency,created,customer_id,paid,status\n"


@pytest.fixture
def recorded_loads(monkeypatch):
    """`load.load_day` records what it was given instead of loading (and no database is opened)."""
    calls = []
    monkeypatch.setattr(connections, "db_connection", lambda conn_id=None: mock.MagicMock())
    monkeypatch.setattr(load_day, "load_day", lambda conn, contract, files, **kwargs: calls.append(
        {"contract": contract, "files": {name: b"".join(open_file()) for name, open_file in files.items()}, **kwargs}))
    return calls


def one_file_per_kind(client, charge: bytes = CHARGE_HEADER) -> None:
    for kind, header in (("charge", charge), ("satisfaction", SAT_HEADER)):
        put(client, f"{kind}/dt={DS}/part.csv", header)
        put_manifest(client, kind, {"part.csv": 0})


def satisfaction_day(client) -> tuple[str, bytes, bytes]:
    """Two listed files (one compressed) and one the manifest does not list; the manifest's URI and the two files."""
    a, b = SAT_HEADER + b"cus_1,1,2,3,basic\n", gzip.compress(SAT_HEADER + b"cus_2,1,2,3,basic\n")
    put(client, f"satisfaction/dt={DS}/a.csv", a)
    put(client, f"satisfaction/dt={DS}/b.csv.gz", b)
    put(client, f"satisfaction/dt={DS}/late.csv", SAT_HEADER)
    return put_manifest(client, "satisfaction", {"a.csv": 1, "b.csv.gz": 1}), a, b


def assert_recorded_the_listed_files(call: dict, manifest: str) -> None:
    prefix = f"s3://bucket/satisfaction/dt={DS}/"
    assert call["contract"].table == "in_satisfaction" and (call["ds"], call["run_id"], call["schema"]) == (
        DS, "r1", "odd schema")
    assert call["files"] == {prefix + "a.csv": SAT_HEADER + b"cus_1,1,2,3,basic\n",
                             prefix + "b.csv.gz": SAT_HEADER + b"cus_2,1,2,3,basic\n"}  # decompressed
    assert call["expected_lines"] == {prefix + "a.csv": 1, prefix + "b.csv.gz": 1}
    assert call["ignored_files"] == {prefix + "late.csv": f"ignored: not listed in the manifest {manifest}"}
