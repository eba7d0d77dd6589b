"""The Astro SDK edition's operators (include/finance/operators.py) on moto's S3, the load itself replaced
by a recorder (tests/db/test_contract_load.py runs it for real): what only this edition has (what both have:
test_contract_load_operator.py). Airflow 2 only: the Airflow 3 edition's are tested in test_operators_airflow3.py."""

import pytest

from tests.editions import edition_only  # noqa: E402

pytest.importorskip("astro", reason=edition_only("the Astro SDK edition's operators need the Astro SDK, which does "
                                                 "not run on Airflow 3: test_operators_airflow3.py tests that edition's"))

from astro.constants import FileType  # noqa: E402
from astro.files import File  # noqa: E402
from astro.sql.operators.load_file import LoadFileOperator  # noqa: E402
from astro.table import Metadata, Table  # noqa: E402

from include.finance import operators  # noqa: E402
from include.finance.edition import AirflowFailException  # noqa: E402
from include.finance.contract import CHARGE, SATISFACTION  # noqa: E402
from include.finance.operators import ContractLoadOperator  # noqa: E402
from tests.unit.input_fixtures import DS, SETTINGS, one_file_per_kind, put  # noqa: E402


def test_day_loads_is_one_load_per_kind_or_fails_without_retry(s3):
    client, _ = s3
    one_file_per_kind(client)
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
