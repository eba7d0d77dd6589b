"""The Airflow 3 edition's counterparts of the Astro SDK pieces the default edition uses (docs/airflow3.md):

- `ContractLoadOperator`, a plain operator, for the SDK's `LoadFileOperator` subclass: the same load
  (`input_files.load_input_files`), its files and table reported as OpenLineage datasets;
- `transform` for `aql.transform_file`: the same `include/finance/sql/*.sql` into a table, by the
  common-sql provider's `SQLExecuteQueryOperator`;
- `cleanup` for `aql.cleanup`: a teardown dropping the tables the transforms made for the run;
- `select_rows` for `aql.dataframe` reading a transform's table: the query's rows as a DataFrame, which
  Airflow 3's XCom serializes (pyarrow).

Airflow 3 only: it imports `airflow.sdk`.
"""

from __future__ import annotations

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import BaseOperator

from include.finance import sql
from include.finance.config import Settings, settings
from include.finance.contract import CONTRACTS, ContractError
from include.finance.edition import AirflowFailException
from include.finance.sql import quoted


def day_loads(ds: str, settings: Settings) -> list[dict]:
    """The ContractLoadOperator arguments of the day, one per kind (`input_files.checked_day_inputs`)."""
    from include.finance.loading.day_files import checked_day_inputs

    return [{"kind": kind, "path": path, "manifest": manifest}
            for kind, (path, manifest) in checked_day_inputs(ds, settings).items()]


class ContractLoadOperator(BaseOperator):
    """Load every .csv and .csv.gz under `path` (an s3:// prefix) that `manifest` lists into the logical
    date's partition of the `kind`'s table, checked against its contract (`input_files.load_input_files`).
    A file that breaks the contract or its manifest fails the task without a retry. Returns the table."""

    template_fields = ("kind", "path", "manifest")

    def __init__(self, *, kind: str, path: str, manifest: str | None = None, aws_conn_id: str = settings.aws_conn_id,
                 conn_id: str = settings.db_conn_id, schema: str = settings.db_schema, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.path, self.manifest = kind, path, manifest
        self.aws_conn_id, self.conn_id, self.schema = aws_conn_id, conn_id, schema
        self.loaded_files: dict[str, int] = {}  # s3:// path -> bytes, of the files the last run loaded

    def execute(self, context) -> str:
        from include.finance.connections import db_connection, s3_hook
        from include.finance.loading.day_files import load_input_files

        try:
            with db_connection(self.conn_id) as conn:
                self.loaded_files = load_input_files(s3_hook(self.aws_conn_id), conn, self.kind, self.path,
                                                     self.manifest, context["ds"], context["run_id"], self.schema,
                                                     self.log)
        except ContractError as error:  # the files will not change by themselves: no retry
            raise AirflowFailException(str(error)) from error
        return f"{self.schema}.{CONTRACTS[self.kind].table}"

    def get_openlineage_facets_on_complete(self, task_instance):
        """The files that loaded (not the ignored ones) in, the table with the contract's columns out."""
        from airflow.providers.common.compat.openlineage.facet import Dataset, SchemaDatasetFacet, SchemaDatasetFacetFields
        from airflow.providers.openlineage.extractors import OperatorLineage
        from airflow.sdk import BaseHook

        from include.finance.loading.day_files import split_s3_path

        contract = CONTRACTS[self.kind]
        inputs = [Dataset(namespace=f"s3://{bucket}", name=key)
                  for bucket, key in (split_s3_path(path) for path in self.loaded_files)]
        conn = BaseHook.get_connection(self.conn_id)
        schema = SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=c.name, type=c.sql_type) for c in contract.columns])
        output = Dataset(namespace=f"postgres://{conn.host}:{conn.port or 5432}",
                         name=f"{conn.schema}.{self.schema}.{contract.table}", facets={"schema": schema})
        return OperatorLineage(inputs=inputs, outputs=[output])


# The tables the transforms make for a run, dropped by `cleanup` (the Astro SDK's temporary tables).
SUCCESSFUL_CHARGES = "tmp_successful_charges"
AVG_PER_CUSTOMER = "tmp_avg_successful_per_customer"
TEMPORARY_TABLES = (SUCCESSFUL_CHARGES, AVG_PER_CUSTOMER)


def transform(file: str, output: str, tables: dict[str, str], parameters: dict, **kwargs) -> SQLExecuteQueryOperator:
    """The transform `file` into the table `output` (replaced), in one transaction; `tables` names the
    tables its `{{ name }}`s stand for, `parameters` the values of the others (templated: "{{ ds }}")."""
    target = quoted(settings.db_schema, output)
    return SQLExecuteQueryOperator(
        task_id=kwargs.pop("task_id", file.removesuffix(".sql")), conn_id=settings.db_conn_id,
        sql=[sql.text("schema/drop_table.sql", table=target),
             sql.text("schema/create_table_as.sql", table=target, query=sql.transform(file, settings.db_schema, tables))],
        parameters=parameters, autocommit=False, **kwargs)


def cleanup(**kwargs) -> SQLExecuteQueryOperator:
    """Drop the run's temporary tables (as a teardown: once everything else has finished, whatever its state)."""
    return SQLExecuteQueryOperator(
        task_id="cleanup", conn_id=settings.db_conn_id,
        sql=[sql.text("schema/drop_table.sql", table=quoted(settings.db_schema, table)) for table in TEMPORARY_TABLES],
        **kwargs)


def select_rows(file: str, tables: dict[str, str], parameters: dict):
    """The rows of the query in `file` (filled in as by `transform`) as a pandas DataFrame."""
    import warnings

    import pandas as pd

    from include.finance.connections import db_connection

    with db_connection() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy", category=UserWarning)
        return pd.read_sql_query(sql.transform(file, settings.db_schema, tables), conn, params=parameters)
