import json

import boto3
import pytest
from moto import mock_aws

from include.finance import storage

KINDS = ("charge", "satisfaction")


def test_keys_carry_the_logical_date():
    assert storage.partition_prefix("charge", "2026-11-20") == "charge/dt=2026-11-20/"
    assert storage.manifest_key("satisfaction", "2026-11-20") == "manifests/dt=2026-11-20/satisfaction.json"


def test_upload_kwargs_one_per_file():
    files = {"charge": ["/x/charge_part_000.csv", "/x/charge_part_001.csv"], "satisfaction": ["/y/s.csv"]}
    assert storage.upload_kwargs(files, "2026-11-20") == [
        {"filename": "/x/charge_part_000.csv", "dest_key": "charge/dt=2026-11-20/charge_part_000.csv"},
        {"filename": "/x/charge_part_001.csv", "dest_key": "charge/dt=2026-11-20/charge_part_001.csv"},
        {"filename": "/y/s.csv", "dest_key": "satisfaction/dt=2026-11-20/s.csv"},
    ]


def test_input_files_needs_every_kind(tmp_path):
    (tmp_path / "charge").mkdir()
    (tmp_path / "charge" / "a.csv").write_text("id\n")
    with pytest.raises(FileNotFoundError, match=r"satisfaction"):
        storage.input_files(tmp_path, KINDS)
    (tmp_path / "satisfaction").mkdir()
    (tmp_path / "satisfaction" / "b.csv").write_text("customer_id\n")
    assert storage.input_files(tmp_path, KINDS) == {
        "charge": [str(tmp_path / "charge" / "a.csv")],
        "satisfaction": [str(tmp_path / "satisfaction" / "b.csv")],
    }


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_TEST", json.dumps({"conn_type": "aws", "login": "k", "password": "s"}))
    with mock_aws():
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        boto3.client("s3").create_bucket(Bucket="bucket")
        yield S3Hook(aws_conn_id="aws_test")


def test_rerun_clears_only_its_own_day(s3):
    for key in ["charge/dt=2026-11-20/old.csv", "manifests/dt=2026-11-20/charge.json", "charge/dt=2026-11-19/p.csv"]:
        s3.load_string("x", key=key, bucket_name="bucket")
    assert storage.clear_partition(s3, "bucket", "2026-11-20", KINDS) == 2
    assert s3.list_keys(bucket_name="bucket") == ["charge/dt=2026-11-19/p.csv"]


def test_manifests_list_each_kind_files(s3):
    uploads = storage.upload_kwargs({"charge": ["/a/c1.csv", "/a/c2.csv"], "satisfaction": ["/a/s1.csv"]}, "2026-11-20")
    written = storage.write_manifests(s3, "bucket", "2026-11-20", uploads, KINDS)
    assert written == ["manifests/dt=2026-11-20/charge.json", "manifests/dt=2026-11-20/satisfaction.json"]
    charge = json.loads(s3.read_key("manifests/dt=2026-11-20/charge.json", bucket_name="bucket"))
    assert charge["keys"] == ["charge/dt=2026-11-20/c1.csv", "charge/dt=2026-11-20/c2.csv"]
