"""The contract load operator of the edition that runs (include/finance/operators.py: the Astro SDK's
`LoadFileOperator` subclass; include/finance/operators_airflow3.py: the plain operator of the Airflow 3 edition)
on moto's S3, the load itself replaced by a recorder: the behaviours both editions have, one test each. What only
one edition has: test_operators.py, test_operators_airflow3.py. tests/db/test_contract_load.py runs the load for real."""

from types import SimpleNamespace

import pytest

from include.finance.contract import SATISFACTION
from include.finance.edition import AIRFLOW_3, AirflowFailException
from tests.editions import DAGS_FOLDER, dagbag
from tests.unit.input_fixtures import (DS, SETTINGS, assert_recorded_the_listed_files, one_file_per_kind, put,
                                       satisfaction_day)

PREFIX = f"s3://bucket/satisfaction/dt={DS}/"


def airflow3_edition() -> SimpleNamespace:
    from include.finance import operators_airflow3 as module

    def make(manifest: str | None = None):
        return module.ContractLoadOperator(task_id="load", kind="satisfaction", path=PREFIX, manifest=manifest,
                                           aws_conn_id="aws_test", conn_id="postgres_test", schema="odd schema")

    return SimpleNamespace(module=module, make=make, returned=lambda op: "odd schema.in_satisfaction",
                           unmapped=lambda task: (task.kind, task.path), mapped=lambda kw: (kw["kind"], kw["path"]))


def astro_sdk_edition() -> SimpleNamespace:
    from astro.constants import FileType
    from astro.files import File
    from astro.table import Metadata, Table

    from include.finance import operators as module

    def make(manifest: str | None = None):
        return module.ContractLoadOperator(
            task_id="load_satisfaction", kind="satisfaction", manifest=manifest,
            input_file=File(path=PREFIX, conn_id="aws_test", filetype=FileType.CSV),
            output_table=Table(conn_id="postgres_test", name=SATISFACTION.table, metadata=Metadata(schema="odd schema")))

    return SimpleNamespace(module=module, make=make, returned=lambda op: op.output_table,
                           unmapped=lambda task: (task.kind, task.output_table.name),
                           mapped=lambda kw: (kw["kind"], kw["output_table"].name))


@pytest.fixture
def edition() -> SimpleNamespace:
    """The running edition's operators module, `make(manifest)` (its satisfaction load), what `execute` returns,
    and how an unmapped task and its mapped arguments name the kind and where it loads."""
    return airflow3_edition() if AIRFLOW_3 else astro_sdk_edition()


def test_finance_elts_mapped_load_unmaps_into_a_contract_load_per_kind(s3, edition):
    client, _ = s3
    one_file_per_kind(client)
    mapped = dagbag(DAGS_FOLDER / "finance_elt.py").dags["finance_elt"].get_task("load_input_files")
    assert mapped.operator_class is edition.module.ContractLoadOperator
    for kwargs in edition.module.day_loads(DS, SETTINGS):
        task = mapped.unmap(kwargs)
        assert isinstance(task, edition.module.ContractLoadOperator) and edition.unmapped(task) == edition.mapped(kwargs)
        assert task.retries >= 2 and {"kind", "manifest"} <= set(task.template_fields)


def test_execute_loads_the_listed_files_with_their_lines_and_lists_the_others(s3, recorded_loads, edition):
    client, _ = s3
    manifest, a, b = satisfaction_day(client)
    op = edition.make(manifest)
    assert op.execute({"ds": DS, "run_id": "r1"}) == edition.returned(op)
    [call] = recorded_loads
    assert call["contract"] is SATISFACTION
    assert_recorded_the_listed_files(call, manifest)
    assert op.loaded_files == {PREFIX + "a.csv": len(a), PREFIX + "b.csv.gz": len(b)}  # what lineage reports


def test_a_broken_manifest_fails_the_load_without_retry(s3, recorded_loads, edition):
    client, _ = s3
    put(client, f"manifests/dt={DS}/satisfaction.json", b"not json")
    with pytest.raises(AirflowFailException, match="not a manifest of files with their rows"):
        edition.make(f"s3://bucket/manifests/dt={DS}/satisfaction.json").execute({"ds": DS, "run_id": "r1"})
    assert recorded_loads == []
