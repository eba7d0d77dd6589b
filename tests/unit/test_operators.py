"""The operators of finance_elt and the input files they read, on moto's S3 (no database: the load
itself is replaced by a recorder; tests/db/test_contract_load.py runs it for real)."""

import gzip
import json
from unittest import mock
from pathlib import Path

import boto3
import pytest
from airflow.exceptions import AirflowException, AirflowFailException
from astro.constants import FileType
from astro.files import File
from astro.sql.operators.load_file import LoadFileOperator
from astro.table import Metadata, Table
from moto import mock_aws

from include.finance import input_files, load, operators
from include.finance.config import Settings
from include.finance.contract import CHARGE, SATISFACTION
from include.finance.checks import RowsColumnCheckOperator
from include.finance.operators import ContractLoadOperator

ROOT = Path(__file__).resolve().parents[2]
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


def test_day_files_loads_what_the_manifest_lists_and_ignores_the_rest(s3):
    client, hook = s3
    for name in ("a.csv", "b.csv.gz", "late.csv", "README.txt"):
        put(client, f"satisfaction/dt={DS}/{name}", b"x" * len(name))
    prefix = f"s3://bucket/satisfaction/dt={DS}/"

    files = input_files.day_files(hook, prefix, put_manifest(client, "satisfaction", {"a.csv": 2, "b.csv.gz": 1}))
    assert files.load == [f"satisfaction/dt={DS}/a.csv", f"satisfaction/dt={DS}/b.csv.gz"]
    assert files.lines == {f"satisfaction/dt={DS}/a.csv": 2, f"satisfaction/dt={DS}/b.csv.gz": 1}
    assert files.ignored == {
        f"satisfaction/dt={DS}/README.txt": "ignored: not a .csv or .csv.gz file",
        f"satisfaction/dt={DS}/late.csv": f"ignored: not listed in the manifest s3://bucket/manifests/dt={DS}/satisfaction.json",
    }
    assert files.sizes[f"satisfaction/dt={DS}/late.csv"] == len("late.csv")

    assert input_files.day_files(hook, prefix).load == [f"satisfaction/dt={DS}/{n}" for n in ("a.csv", "b.csv.gz", "late.csv")]
    with pytest.raises(input_files.ContractError, match="gone.csv: listed in the manifest"):
        input_files.day_files(hook, prefix, put_manifest(client, "satisfaction", {"a.csv": 2, "gone.csv": 1}))


def test_gunzip_reads_several_members_and_names_a_truncated_file():
    data = gzip.compress(b"a\n" * 10) + gzip.compress(b"b\n")
    assert b"".join(input_files.gunzip([data[i:i + 5] for i in range(0, len(data), 5)], "f.gz")) == b"a\n" * 10 + b"b\n"
    with pytest.raises(input_files.ContractError, match="f.gz: the gzip stream ends early"):
        list(input_files.gunzip([data[:-20]], "f.gz"))


def test_check_input_files_names_each_broken_header(s3):
    client, hook = s3
    put(client, f"satisfaction/dt={DS}/good.csv", SAT_HEADER)
    put(client, f"satisfaction/dt={DS}/empty.csv", b"")
    put(client, f"satisfaction/dt={DS}/no_speed.csv.gz", gzip.compress(b"customer_id,product_type\n"))
    [error] = input_files.check_input_files(hook, {"satisfaction": f"s3://bucket/satisfaction/dt={DS}/"})
    assert error.startswith(f"s3://bucket/satisfaction/dt={DS}/no_speed.csv.gz: required columns customer_satisfaction_speed")


def test_day_loads_is_one_load_per_kind_or_fails_without_retry(s3):
    client, _ = s3
    for kind, header in (("charge", b"id,amount,amount_captured,currency,created,customer_id,paid,status\n"),
                         ("satisfaction", SAT_HEADER)):
        put(client, f"{kind}/dt={DS}/part.csv", header)
        put_manifest(client, kind, {"part.csv": 0})
    loads = operators.day_loads(DS, SETTINGS)
    assert [(d["kind"], d["input_file"].path, d["output_table"].name, d["output_table"].metadata.schema, d["manifest"])
            for d in loads] == [
        ("charge", f"s3://bucket/charge/dt={DS}/", "in_charge", "odd schema", f"s3://bucket/manifests/dt={DS}/charge.json"),
        ("satisfaction", f"s3://bucket/satisfaction/dt={DS}/", "in_satisfaction", "odd schema",
         f"s3://bucket/manifests/dt={DS}/satisfaction.json"),
    ]
    put(client, f"charge/dt={DS}/part.csv", b"id\n")
    with pytest.raises(AirflowFailException, match="part.csv: required columns amount"):
        operators.day_loads(DS, SETTINGS)


def operator(kind: str = "satisfaction", manifest: str | None = None) -> ContractLoadOperator:
    contract = {"charge": CHARGE, "satisfaction": SATISFACTION}[kind]
    return ContractLoadOperator(
        task_id=f"load_{kind}",
        input_file=File(path=f"s3://bucket/{kind}/dt={DS}/", conn_id="aws_test", filetype=FileType.CSV),
        output_table=Table(conn_id="postgres_test", name=contract.table, metadata=Metadata(schema="odd schema")),
        kind=kind,
        manifest=manifest,
    )


def test_the_load_is_a_load_file_operator_with_its_file_and_table_as_lineage():
    op = operator()
    assert isinstance(op, LoadFileOperator)
    assert {"input_file", "output_table", "kind", "manifest"} <= set(op.template_fields)
    assert op.inlets == [op.input_file] and op.outlets == [op.output_table]


def test_finance_elts_mapped_load_unmaps_into_a_contract_load_per_kind(s3):
    from airflow.models import DagBag

    client, _ = s3
    for kind in ("charge", "satisfaction"):
        put(client, f"{kind}/dt={DS}/part.csv", {"charge": b"id,amount,amount_captured,currency,created,customer_id,"
                                                            b"paid,status\n", "satisfaction": SAT_HEADER}[kind])
        put_manifest(client, kind, {"part.csv": 0})
    mapped = DagBag(str(ROOT / "dags" / "finance_elt.py"), include_examples=False).dags["finance_elt"].get_task(
        "load_input_files")
    assert mapped.operator_class is ContractLoadOperator
    for kwargs in operators.day_loads(DS, SETTINGS):
        task = mapped.unmap(kwargs)
        assert isinstance(task, ContractLoadOperator) and (task.kind, task.output_table.name) == (
            kwargs["kind"], kwargs["output_table"].name)
        assert task.retries >= 2


@pytest.fixture
def recorded_loads(monkeypatch):
    calls = []
    monkeypatch.setattr(operators.PostgresHook, "get_conn", lambda self: mock.MagicMock())
    monkeypatch.setattr(load, "load_day", lambda conn, contract, files, **kwargs: calls.append(
        {"contract": contract, "files": {name: b"".join(open_file()) for name, open_file in files.items()}, **kwargs}))
    return calls


def test_execute_loads_the_listed_files_with_their_lines_and_lists_the_others(s3, recorded_loads):
    client, _ = s3
    a, b = SAT_HEADER + b"cus_1,1,2,3,basic\n", gzip.compress(SAT_HEADER + b"cus_2,1,2,3,basic\n")
    put(client, f"satisfaction/dt={DS}/a.csv", a)
    put(client, f"satisfaction/dt={DS}/b.csv.gz", b)
    put(client, f"satisfaction/dt={DS}/late.csv", SAT_HEADER)
    manifest = put_manifest(client, "satisfaction", {"a.csv": 1, "b.csv.gz": 1})
    op = operator(manifest=manifest)

    assert op.execute({"ds": DS, "run_id": "r1"}) is op.output_table
    [call] = recorded_loads
    prefix = f"s3://bucket/satisfaction/dt={DS}/"
    assert call["contract"] is SATISFACTION and (call["ds"], call["run_id"], call["schema"]) == (DS, "r1", "odd schema")
    assert call["files"] == {prefix + "a.csv": SAT_HEADER + b"cus_1,1,2,3,basic\n",
                             prefix + "b.csv.gz": SAT_HEADER + b"cus_2,1,2,3,basic\n"}  # decompressed
    assert call["expected_lines"] == {prefix + "a.csv": 1, prefix + "b.csv.gz": 1}
    assert call["ignored_files"] == {prefix + "late.csv": f"ignored: not listed in the manifest {manifest}"}
    assert op.loaded_files == {prefix + "a.csv": len(a), prefix + "b.csv.gz": len(b)}  # what lineage reports


def test_a_broken_manifest_fails_the_load_without_retry(s3, recorded_loads):
    client, _ = s3
    put(client, f"manifests/dt={DS}/satisfaction.json", b"not json")
    with pytest.raises(AirflowFailException, match="not a manifest of files with their rows"):
        operator(manifest=f"s3://bucket/manifests/dt={DS}/satisfaction.json").execute({"ds": DS, "run_id": "r1"})
    assert recorded_loads == []


def test_the_output_table_must_be_the_contracts():
    op = operator("charge")
    op.output_table = Table(conn_id="postgres_test", name="in_satisfaction")
    with pytest.raises(ValueError, match="the charge contract loads into in_charge, not in_satisfaction"):
        op.execute({"ds": DS, "run_id": "r1"})


def test_lineage_reports_the_loaded_files_and_the_table_with_the_contracts_columns(s3):
    op = operator()
    prefix = f"s3://bucket/satisfaction/dt={DS}/"
    op.loaded_files = {prefix + "a.csv": 120, prefix + "b.csv.gz": 80}
    lineage = op.get_openlineage_facets_on_complete(None)

    [source] = lineage.inputs
    assert (source.namespace, source.name) == ("s3://bucket", f"/satisfaction/dt={DS}/")
    files = source.facets["input_file_facet"]
    assert files.number_of_files == 2 and files.is_pattern
    assert [(f.filepath, f.file_size, f.file_type) for f in files.files] == [
        (prefix + "a.csv", 120, FileType.CSV), (prefix + "b.csv.gz", 80, FileType.CSV)]
    [table] = lineage.outputs
    assert table.namespace == "postgresql://db.example:5432" and table.name == "finance.in_satisfaction"
    # the name the transforms report for the same table as their input: the lineage graph joins there
    same = Table(conn_id=op.output_table.conn_id, name="in_satisfaction", metadata=op.output_table.metadata)
    assert (table.namespace, table.name) == (same.openlineage_dataset_namespace(), same.openlineage_dataset_name())
    assert [(f.name, f.type) for f in table.facets["schema"].fields] == [(c.name, c.sql_type) for c in SATISFACTION.columns]
    assert table.facets["output_database_facet"].schema == "odd schema"


def test_the_column_check_fails_a_day_without_rows(monkeypatch):
    check = RowsColumnCheckOperator(task_id="check", conn_id="postgres_test", table='"odd schema"."in_charge"',
                                    partition_clause="ds = '2026-11-20'", column_mapping={"id": {"null_check": {"equal_to": 0}}})
    queries = []

    class Hook:
        def get_first(self, statement):
            queries.append(statement)
            return (0,)

    monkeypatch.setattr(RowsColumnCheckOperator, "get_db_hook", lambda self: Hook())
    with pytest.raises(AirflowException, match="no rows, nothing to check"):
        check.execute({})
    assert queries == ["SELECT COUNT(*) FROM \"odd schema\".\"in_charge\" WHERE ds = '2026-11-20'"]
