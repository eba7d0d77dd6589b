import json
from pathlib import Path

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


def _uploaded(s3, tmp_path, files: dict[str, list[str]]) -> list[dict[str, str]]:
    """Local files with the given contents, uploaded as in_finance_data does; their upload kwargs."""
    paths = {}
    for kind, contents in files.items():
        for number, content in enumerate(contents):
            path = tmp_path / kind / f"{kind}_{number}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            paths.setdefault(kind, []).append(str(path))
    uploads = storage.upload_kwargs(paths, "2026-11-20")
    for upload in uploads:
        s3.load_file(upload["filename"], key=upload["dest_key"], bucket_name="bucket")
    return uploads


def test_manifests_list_each_kind_files_with_rows_and_bytes(s3, tmp_path):
    uploads = _uploaded(s3, tmp_path, {"charge": ["id\na\nb\n", "id\nc"], "satisfaction": ["id\n"]})
    written = storage.write_manifests(s3, "bucket", "2026-11-20", uploads, KINDS)
    assert written == ["manifests/dt=2026-11-20/charge.json", "manifests/dt=2026-11-20/satisfaction.json"]
    charge = json.loads(s3.read_key("manifests/dt=2026-11-20/charge.json", bucket_name="bucket"))
    assert charge["keys"] == ["charge/dt=2026-11-20/charge_0.csv", "charge/dt=2026-11-20/charge_1.csv"]
    assert charge["files"] == [{"key": "charge/dt=2026-11-20/charge_0.csv", "rows": 2, "bytes": 7},
                               {"key": "charge/dt=2026-11-20/charge_1.csv", "rows": 1, "bytes": 4}]
    satisfaction = json.loads(s3.read_key("manifests/dt=2026-11-20/satisfaction.json", bucket_name="bucket"))
    assert satisfaction["files"] == [{"key": "satisfaction/dt=2026-11-20/satisfaction_0.csv", "rows": 0, "bytes": 3}]


def test_manifests_refuse_an_upload_that_differs_from_its_file(s3, tmp_path):
    uploads = _uploaded(s3, tmp_path, {"charge": ["id\na\n"], "satisfaction": ["id\n"]})
    Path(uploads[0]["filename"]).write_text("id\na\nb\n")  # the file changed after its upload
    with pytest.raises(ValueError, match=r"charge/dt=2026-11-20/charge_0.csv: 5 bytes in object storage, 7 bytes"):
        storage.write_manifests(s3, "bucket", "2026-11-20", uploads, KINDS)
    s3.delete_objects(bucket="bucket", keys=[uploads[1]["dest_key"]])
    with pytest.raises(ValueError, match=r"satisfaction_0.csv: missing in object storage"):
        storage.write_manifests(s3, "bucket", "2026-11-20", uploads[1:], KINDS)
    assert s3.list_keys(bucket_name="bucket", prefix="manifests/") == []
