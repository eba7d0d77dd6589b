"""The Airflow 3 edition's adapters (include/finance/operators_airflow3.py) on moto's S3, the load itself
replaced by a recorder: what only this edition has (what both have: test_contract_load_operator.py); the
end-to-end run of that edition (make test AIRFLOW=3) runs them for real."""

import pytest

from tests.editions import edition_only  # noqa: E402

pytest.importorskip("airflow.sdk", reason=edition_only("the Airflow 3 edition's operators need Airflow 3's Task SDK: "
                                                     "test_operators.py tests the Astro SDK edition's"))

from include.finance import operators_airflow3 as adapters  # noqa: E402
from include.finance.edition import AirflowFailException  # noqa: E402
from include.finance.contract import SATISFACTION  # noqa: E402
from include.finance.operators_airflow3 import ContractLoadOperator  # noqa: E402
from tests.unit.input_fixtures import DS, SETTINGS, one_file_per_kind, put  # noqa: E402

PREFIX = f"s3://bucket/satisfaction/dt={DS}/"


def operator(manifest: str | None = None) -> ContractLoadOperator:
    return ContractLoadOperator(task_id="load", kind="satisfaction", path=PREFIX, manifest=manifest,
                                aws_conn_id="aws_test", conn_id="postgres_test", schema="odd schema")


def test_day_loads_is_one_plain_load_per_kind_or_fails_without_retry(s3):
    client, _ = s3
    one_file_per_kind(client)
    assert adapters.day_loads(DS, SETTINGS) == [
        {"kind": "charge", "path": f"s3://bucket/charge/dt={DS}/", "manifest": f"s3://bucket/manifests/dt={DS}/charge.json"},
        {"kind": "satisfaction", "path": PREFIX, "manifest": f"s3://bucket/manifests/dt={DS}/satisfaction.json"},
    ]
    put(client, f"charge/dt={DS}/part.csv", b"id\n")
    with pytest.raises(AirflowFailException, match="part.csv: required columns amount"):
        adapters.day_loads(DS, SETTINGS)


def test_lineage_reports_each_loaded_file_and_the_table_with_the_contracts_columns(s3):
    op = operator()
    op.loaded_files = {PREFIX + "a.csv": 120, PREFIX + "b.csv.gz": 80}
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("s3://bucket", f"satisfaction/dt={DS}/a.csv"), ("s3://bucket", f"satisfaction/dt={DS}/b.csv.gz")]
    [table] = lineage.outputs
    # OpenLineage's naming for PostgreSQL, which the common-sql operators' SQL parser reports for the same table
    assert (table.namespace, table.name) == ("postgres://db.example:5432", "finance.odd schema.in_satisfaction")
    assert [(f.name, f.type) for f in table.facets["schema"].fields] == [(c.name, c.sql_type) for c in SATISFACTION.columns]


def test_a_transform_replaces_its_table_in_one_transaction_with_its_values_bound():
    task = adapters.transform("join_charge_satisfaction.sql", "staging", tables={
        "avg_per_customer": adapters.AVG_PER_CUSTOMER, "in_satisfaction": "in_satisfaction"}, parameters={"day": "{{ ds }}"})
    drop, create = task.sql
    assert task.task_id == "join_charge_satisfaction" and task.conn_id == adapters.settings.db_conn_id
    schema = adapters.settings.db_schema
    assert drop == f'DROP TABLE IF EXISTS "{schema}"."staging"'
    assert create.startswith(f'CREATE TABLE "{schema}"."staging" AS\nSELECT')
    assert f'FROM "{schema}"."{adapters.AVG_PER_CUSTOMER}" AS a' in create and "s.ds = %(day)s" in create
    assert task.parameters == {"day": "{{ ds }}"} and "parameters" in task.template_fields and not task.autocommit


def test_cleanup_drops_the_transforms_tables_only():
    schema = adapters.settings.db_schema
    assert adapters.cleanup().sql == [f'DROP TABLE IF EXISTS "{schema}"."{table}"' for table in adapters.TEMPORARY_TABLES]
    assert len(adapters.TEMPORARY_TABLES) == 2
