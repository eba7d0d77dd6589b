"""The operators of finance_elt.

`ContractLoadOperator` is the Astro SDK's `LoadFileOperator` (an input `File` in object storage, an
output `Table` in the database, the same lineage), loading under the data contract. Unlike
`LoadFileOperator`, which infers column types from the first rows and matches columns by position, it
loads into the tables `schema.create_tables` made with the declared types, matches columns by name,
streams the files (no pandas round trip) and quarantines bad rows: see `include/finance/load.py`.
"""

from __future__ import annotations

from contextlib import closing

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.utils.state import TaskInstanceState
from astro.constants import FileType
from astro.files import File
from astro.sql.operators.cleanup import CleanupOperator as AstroCleanupOperator
from astro.sql.operators.load_file import LoadFileOperator
from astro.table import BaseTable, Metadata, Table

from include.finance import load
from include.finance.config import Settings
from include.finance.contract import CONTRACTS, KINDS, ContractError
from include.finance.input_files import check_input_files, day_files, split_s3_path, stream
from include.finance.storage import manifest_key, partition_prefix


class ContractLoadOperator(LoadFileOperator):
    """Load every .csv and .csv.gz under `input_file.path` (an s3:// prefix) into the logical date's
    partition of `output_table`, checked against the contract of `kind`. With a `manifest` (an s3:// key:
    the files in_finance_data uploaded, with their lines) only the files it lists load, each must have the
    lines it lists, and the prefix's other files are listed in `load_audit` as ignored, as are files that
    are not CSV. A file that breaks the contract or its manifest fails the task without a retry.
    Returns the output table."""

    template_fields = (*LoadFileOperator.template_fields, "kind", "manifest")

    def __init__(self, *, input_file: File, output_table: BaseTable, kind: str, manifest: str | None = None, **kwargs):
        super().__init__(input_file=input_file, output_table=output_table, **kwargs)
        self.kind = kind
        self.manifest = manifest
        self.loaded_files: dict[str, int] = {}  # s3:// path -> bytes, of the files the last run loaded

    def execute(self, context) -> BaseTable:
        contract = CONTRACTS[self.kind]
        if self.output_table.name != contract.table:
            raise ValueError(f"the {self.kind} contract loads into {contract.table}, not {self.output_table.name}")
        s3_hook = S3Hook(aws_conn_id=self.input_file.conn_id)
        bucket, _ = split_s3_path(self.input_file.path)

        def name(key: str) -> str:
            return f"s3://{bucket}/{key}"

        try:
            files = day_files(s3_hook, self.input_file.path, self.manifest)
            self.log.info("loading %d files from %s into %s (%d ignored)", len(files.load), self.input_file.path,
                          contract.table, len(files.ignored))
            with closing(PostgresHook(postgres_conn_id=self.output_table.conn_id).get_conn()) as conn:
                load.load_day(
                    conn,
                    contract,
                    {name(key): (lambda key=key: stream(s3_hook, bucket, key)) for key in files.load},
                    ds=context["ds"],
                    run_id=context["run_id"],
                    schema=self.output_table.metadata.schema,
                    expected_lines=None if files.lines is None else {name(k): n for k, n in files.lines.items()},
                    ignored_files={name(key): why for key, why in files.ignored.items()},
                )
        except ContractError as error:  # the files will not change by themselves: no retry
            raise AirflowFailException(str(error)) from error
        self.loaded_files = {name(key): files.sizes[key] for key in files.load}
        return self.output_table

    def get_openlineage_facets_on_complete(self, task_instance):
        """The lineage LoadFileOperator reports: the input prefix with the files that loaded (not the
        ignored ones), and the output table, with the contract's columns as its schema."""
        from astro.lineage import (
            DataSourceDatasetFacet,
            OpenlineageDataset,
            OperatorLineage,
            SchemaDatasetFacet,
            SchemaField,
        )
        from astro.lineage.facets import InputFileDatasetFacet, InputFileFacet, OutputDatabaseDatasetFacet

        source, table = self.input_file, self.output_table
        files = [InputFileFacet(filepath=path, file_size=size, file_type=FileType.CSV)
                 for path, size in self.loaded_files.items()]
        source_name = source.openlineage_dataset_name
        inputs = [OpenlineageDataset(namespace=source.openlineage_dataset_namespace, name=source_name, facets={
            "input_file_facet": InputFileDatasetFacet(is_pattern=True, number_of_files=len(files), files=files),
            "dataSource": DataSourceDatasetFacet(name=source_name,
                                                 uri=f"{source.openlineage_dataset_namespace}{source_name}"),
        })]
        outputs = [OpenlineageDataset(namespace=table.openlineage_dataset_namespace(),
                                      name=table.openlineage_dataset_name(), facets={
            "output_database_facet": OutputDatabaseDatasetFacet(
                metadata=table.metadata, columns=table.columns, schema=table.metadata.schema,
                used_native_path=True, enabled_native_fallback=True, native_support_arguments={}),  # COPY, or row by row
            "schema": SchemaDatasetFacet(fields=[SchemaField(name=c.name, type=c.sql_type)
                                                 for c in CONTRACTS[self.kind].columns]),
            "dataSource": DataSourceDatasetFacet(name=table.name, uri=table.openlineage_dataset_uri()),
        })]
        return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={}, job_facets={})


def day_loads(ds: str, settings: Settings) -> list[dict]:
    """The ContractLoadOperator arguments of the day, one per kind, once every file its manifest lists is
    in the bucket and every header passed the contract; otherwise AirflowFailException (no retry: the
    files will not change by themselves) naming every file that breaks it."""
    paths = {kind: f"s3://{settings.data_bucket_name}/{partition_prefix(kind, ds)}" for kind in KINDS}
    manifests = {kind: f"s3://{settings.data_bucket_name}/{manifest_key(kind, ds)}" for kind in KINDS}
    errors = check_input_files(S3Hook(aws_conn_id=settings.aws_conn_id), paths, manifests)
    if errors:
        raise AirflowFailException("input files break the data contract, nothing was loaded:\n" + "\n".join(errors))
    return [
        {
            "input_file": File(path=paths[kind], conn_id=settings.aws_conn_id, filetype=FileType.CSV),
            "output_table": Table(conn_id=settings.db_conn_id, name=CONTRACTS[kind].table,
                                  metadata=Metadata(schema=settings.db_schema)),
            "kind": kind,
            "manifest": manifests[kind],
        }
        for kind in KINDS
    ]


class CleanupOperator(AstroCleanupOperator):
    """`aql.cleanup`, also on a day that failed before the mapped load ran: the Astro SDK resolves the
    output of every LoadFileOperator to find temporary tables, and that of a mapped one that never ran is
    None, on which it fails. Only tasks that succeeded have outputs, so only theirs are resolved."""

    def resolve_tables_from_tasks(self, tasks, context):
        succeeded = {ti.task_id for ti in context["dag_run"].get_task_instances(state=[TaskInstanceState.SUCCESS])}
        return super().resolve_tables_from_tasks([t for t in tasks if t.task_id in succeeded], context)


class RowsColumnCheckOperator(SQLColumnCheckOperator):
    """`SQLColumnCheckOperator` that fails when there are no rows to check: the min or max of no rows is
    NULL, which the provider's check compares as 0 (`accept_none`), so an empty day would pass its range gates."""

    def execute(self, context):
        where = f" WHERE {self.partition_clause}" if self.partition_clause else ""
        (rows,) = self.get_db_hook().get_first(f"SELECT COUNT(*) FROM {self.table}{where}")
        if not rows:
            raise AirflowException(f"{self.table}{where}: no rows, nothing to check: an empty day fails its gates")
        return super().execute(context)
