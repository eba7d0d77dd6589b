import json

import boto3
import pytest
from moto import mock_aws

from include.finance.ingestion import bucket

KINDS = ("charge", "satisfaction")


def test_keys_carry_the_logical_date():
    assert bucket.partition_prefix("charge", "2026-11-20") == "charge/dt=2026-11-20/"
    assert bucket.manifest_key("satisfaction", "2026-11-20") == "manifests/dt=2026-11-20/satisfaction.json"


def test_plan_parts_is_one_entry_per_generated_part_or_per_user_file(tmp_path):
    assert bucket.plan_parts(None, KINDS, 3) == [{"part": 0}, {"part": 1}, {"part": 2}]
    for kind, name in (("charge", "a.csv"), ("charge", "b.csv"), ("satisfaction", "s.csv")):
        (tmp_path / kind).mkdir(exist_ok=True)
        (tmp_path / kind / name).write_text("x\n")
    assert bucket.plan_parts(tmp_path, KINDS, 3) == [
        {"kind": "charge", "file": str(tmp_path / "charge" / "a.csv")},
        {"kind": "charge", "file": str(tmp_path / "charge" / "b.csv")},
        {"kind": "satisfaction", "file": str(tmp_path / "satisfaction" / "s.csv")},
    ]


def test_input_files_needs_every_kind(tmp_path):
    (tmp_path / "charge").mkdir()
    (tmp_path / "charge" / "a.csv").write_text("id\n")
    with pytest.raises(FileNotFoundError, match=r"satisfaction"):
        bucket.input_files(tmp_path, KINDS)
    (tmp_path / "satisfaction").mkdir()
    (tmp_path / "satisfaction" / "b.csv").write_text("customer_id\n")
    assert bucket.input_files(tmp_path, KINDS) == {
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
    assert bucket.clear_partition(s3, "bucket", "2026-11-20", KINDS) == 2
    assert s3.list_keys(bucket_name="bucket") == ["charge/dt=2026-11-19/p.csv"]


def _reports(s3, files: dict[str, list[str]]) -> list[dict]:
    """Objects with the given contents, uploaded as upload_part does; what the parts report."""
    reports = []
    for kind, contents in files.items():
        for number, content in enumerate(contents):
            key = f"{kind}/dt=2026-11-20/{kind}_{number}.csv"
            s3.load_string(content, key=key, bucket_name="bucket")
            reports.append({"key": key, "rows": content.count("\n") - 1, "bytes": len(content)})
    return reports


def test_manifests_list_each_kind_files_with_rows_and_bytes(s3):
    reports = _reports(s3, {"satisfaction": ["id\n"], "charge": ["id\na\nb\n", "id\nc\n"]})
    written = bucket.write_manifests(s3, "bucket", "2026-11-20", reports, KINDS)
    assert written == ["manifests/dt=2026-11-20/charge.json", "manifests/dt=2026-11-20/satisfaction.json"]
    charge = json.loads(s3.read_key("manifests/dt=2026-11-20/charge.json", bucket_name="bucket"))
    assert charge["keys"] == ["charge/dt=2026-11-20/charge_0.csv", "charge/dt=2026-11-20/charge_1.csv"]
    assert charge["files"] == [{"key": "charge/dt=2026-11-20/charge_0.csv", "rows": 2, "bytes": 7},
                               {"key": "charge/dt=2026-11-20/charge_1.csv", "rows": 1, "bytes": 5}]
    satisfaction = json.loads(s3.read_key("manifests/dt=2026-11-20/satisfaction.json", bucket_name="bucket"))
    assert satisfaction["files"] == [{"key": "satisfaction/dt=2026-11-20/satisfaction_0.csv", "rows": 0, "bytes": 3}]


def test_manifests_refuse_an_object_that_differs_from_its_report(s3):
    reports = _reports(s3, {"charge": ["id\na\n"], "satisfaction": ["id\n"]})
    s3.load_string("id\na\nb\n", key=reports[0]["key"], bucket_name="bucket", replace=True)  # changed since
    with pytest.raises(ValueError, match=r"charge/dt=2026-11-20/charge_0.csv: 7 bytes in object storage, "
                                         r"5 bytes reported by its upload"):
        bucket.write_manifests(s3, "bucket", "2026-11-20", reports, KINDS)
    s3.delete_objects(bucket="bucket", keys=[reports[1]["key"]])
    with pytest.raises(ValueError, match=r"satisfaction_0.csv: missing in object storage"):
        bucket.write_manifests(s3, "bucket", "2026-11-20", reports[1:], KINDS)
    assert s3.list_keys(bucket_name="bucket", prefix="manifests/") == []


@pytest.mark.parametrize("size", [0, 100, 3 * bucket.UPLOAD_PART_BYTES + 12_345])
def test_a_text_upload_streams_any_size_into_one_object(s3, size):
    """Below one part a single PUT, above it a multipart upload; never a local file."""
    text = ("0123456789abcdef" * (size // 16 + 1))[:size]
    upload = bucket.S3TextUpload(s3.get_conn(), "bucket", "x/big.csv")
    with upload as f:
        for start in range(0, size, 1_000_003):  # writes that straddle the parts
            f.write(text[start:start + 1_000_003])
    assert upload.size == size
    assert s3.get_conn().get_object(Bucket="bucket", Key="x/big.csv")["Body"].read() == text.encode()


def test_a_failed_text_upload_leaves_no_object_and_no_open_upload(s3):
    client = s3.get_conn()
    with pytest.raises(RuntimeError, match="generator failed"):
        with bucket.S3TextUpload(client, "bucket", "x/broken.csv") as f:
            f.write("a" * (bucket.UPLOAD_PART_BYTES + 1))
            f.flush()
            raise RuntimeError("generator failed")
    assert s3.list_keys(bucket_name="bucket", prefix="x/") == []
    assert client.list_multipart_uploads(Bucket="bucket").get("Uploads", []) == []


def test_a_generated_part_is_streamed_per_kind_and_reported(s3):
    def write_part(files, part):
        files["charge"].write(f"id\nch_{part}\n")
        files["satisfaction"].write("customer_id\n")
        return {"charge": 1, "satisfaction": 0}

    reports = bucket.upload_part(s3, "bucket", "2026-11-20", {"part": 2}, KINDS, write_part)
    assert reports == [{"key": "charge/dt=2026-11-20/charge_part_002.csv", "rows": 1, "bytes": 8},
                       {"key": "satisfaction/dt=2026-11-20/satisfaction_part_002.csv", "rows": 0, "bytes": 12}]
    assert s3.read_key("charge/dt=2026-11-20/charge_part_002.csv", bucket_name="bucket") == "id\nch_2\n"


def test_a_users_file_is_uploaded_as_it_is_and_reported(s3, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"id\r\na\r\nb")
    reports = bucket.upload_part(s3, "bucket", "2026-11-20", {"kind": "charge", "file": str(path)}, KINDS, None)
    assert reports == [{"key": "charge/dt=2026-11-20/export.csv", "rows": 2, "bytes": 8}]
    assert s3.get_conn().get_object(Bucket="bucket", Key=reports[0]["key"])["Body"].read() == path.read_bytes()
