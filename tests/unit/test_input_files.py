"""The day's input files as both editions' loads read them, on moto's S3, and the quality gates' own
operator (no database: tests/db/test_contract_load.py loads for real)."""

import gzip

import pytest

from include.finance.edition import AirflowException, AirflowFailException
from include.finance.loading import day_files
from include.finance.quality.gate_operators import RowsColumnCheckOperator
from tests.unit.input_fixtures import (DS, SAT_HEADER, SETTINGS, assert_recorded_the_listed_files, one_file_per_kind,
                                       put, put_manifest, satisfaction_day)


def test_day_files_loads_what_the_manifest_lists_and_ignores_the_rest(s3):
    client, hook = s3
    for name in ("a.csv", "b.csv.gz", "late.csv", "README.txt"):
        put(client, f"satisfaction/dt={DS}/{name}", b"x" * len(name))
    prefix = f"s3://bucket/satisfaction/dt={DS}/"

    files = day_files.day_files(hook, prefix, put_manifest(client, "satisfaction", {"a.csv": 2, "b.csv.gz": 1}))
    assert files.load == [f"satisfaction/dt={DS}/a.csv", f"satisfaction/dt={DS}/b.csv.gz"]
    assert files.lines == {f"satisfaction/dt={DS}/a.csv": 2, f"satisfaction/dt={DS}/b.csv.gz": 1}
    assert files.ignored == {
        f"satisfaction/dt={DS}/README.txt": "ignored: not a .csv or .csv.gz file",
        f"satisfaction/dt={DS}/late.csv": f"ignored: not listed in the manifest s3://bucket/manifests/dt={DS}/satisfaction.json",
    }
    assert files.sizes[f"satisfaction/dt={DS}/late.csv"] == len("late.csv")

    assert day_files.day_files(hook, prefix).load == [f"satisfaction/dt={DS}/{n}" for n in ("a.csv", "b.csv.gz", "late.csv")]
    with pytest.raises(day_files.ContractError, match="gone.csv: listed in the manifest"):
        day_files.day_files(hook, prefix, put_manifest(client, "satisfaction", {"a.csv": 2, "gone.csv": 1}))


def test_gunzip_reads_several_members_and_names_a_truncated_file():
    data = gzip.compress(b"a\n" * 10) + gzip.compress(b"b\n")
    assert b"".join(day_files.gunzip([data[i:i + 5] for i in range(0, len(data), 5)], "f.gz")) == b"a\n" * 10 + b"b\n"
    with pytest.raises(day_files.ContractError, match="f.gz: the gzip stream ends early"):
        list(day_files.gunzip([data[:-20]], "f.gz"))


def test_check_input_files_names_each_broken_header(s3):
    client, hook = s3
    put(client, f"satisfaction/dt={DS}/good.csv", SAT_HEADER)
    put(client, f"satisfaction/dt={DS}/empty.csv", b"")
    put(client, f"satisfaction/dt={DS}/no_speed.csv.gz", gzip.compress(b"customer_id,product_type\n"))
    [error] = day_files.check_input_files(hook, {"satisfaction": f"s3://bucket/satisfaction/dt={DS}/"})
    assert error.startswith(f"s3://bucket/satisfaction/dt={DS}/no_speed.csv.gz: required columns customer_satisfaction_speed")


def test_the_days_inputs_are_checked_before_anything_loads(s3):
    client, _ = s3
    one_file_per_kind(client)
    assert day_files.checked_day_inputs(DS, SETTINGS) == {
        "charge": (f"s3://bucket/charge/dt={DS}/", f"s3://bucket/manifests/dt={DS}/charge.json"),
        "satisfaction": (f"s3://bucket/satisfaction/dt={DS}/", f"s3://bucket/manifests/dt={DS}/satisfaction.json")}
    put(client, f"charge/dt={DS}/part.csv", b"id\n")
    with pytest.raises(AirflowFailException, match="part.csv: required columns amount"):
        day_files.checked_day_inputs(DS, SETTINGS)


def test_load_input_files_loads_the_listed_files_with_their_lines_and_lists_the_others(s3, recorded_loads):
    import logging

    client, hook = s3
    manifest, a, b = satisfaction_day(client)
    prefix = f"s3://bucket/satisfaction/dt={DS}/"
    loaded = day_files.load_input_files(hook, None, "satisfaction", prefix, manifest, DS, "r1", "odd schema",
                                          logging.getLogger("test"))
    [call] = recorded_loads
    assert_recorded_the_listed_files(call, manifest)
    assert loaded == {prefix + "a.csv": len(a), prefix + "b.csv.gz": len(b)}  # what lineage reports


def test_the_column_check_fails_a_day_without_rows(monkeypatch):
    check = RowsColumnCheckOperator(task_id="check", conn_id="postgres_test", table='"odd schema"."in_charge"',
                                    partition_clause="ds = '2026-11-20'", column_mapping={"id": {"null_check": {"equal_to": 0}}})
    queries = []

    class Hook:
        def get_first(self, statement):
            queries.append(statement)
            return (0,)

    monkeypatch.setattr(RowsColumnCheckOperator, "get_db_hook", lambda self: Hook())
    with pytest.raises(AirflowException, match="^in_charge has no charges on 2026-11-20: nothing to check, an empty day"
                                               " fails its gates$"):
        check.execute({"ds": "2026-11-20"})
    assert queries == ["SELECT COUNT(*) FROM \"odd schema\".\"in_charge\" WHERE ds = '2026-11-20'"]
