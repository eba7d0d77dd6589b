"""The operators of finance_elt.

`ContractLoadOperator` is the Astro SDK's `LoadFileOperator` (an input `File` in object storage, an
output `Table` in the database, the same lineage), loading under the data contract. Unlike
`LoadFileOperator`, which infers column types from the first rows and matches columns by position, it
loads into the tables `schema.create_tables` made with the declared types, matches columns by name,
streams the files (no pandas round trip) and quarantines bad rows: see `include/finance/loading/load_day.py`.
"""

from __future__ import annotations

from airflow.exceptions import AirflowFailException
from airflow.utils.state import TaskInstanceState
from astro.constants import FileType
from astro.files import File
from astro.sql.operators.cleanup import CleanupOperator as AstroCleanupOperator
from astro.sql.operators.load_file import LoadFileOperator
from astro.table import BaseTable, Metadata, Table

from include.finance import connections
from include.finance.config import Settings
from include.finance.contract import CONTRACTS, ContractError
from include.finance.loading.day_files import checked_day_inputs, load_input_files


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
        if self.output_table.name != CONTRACTS[self.kind].table:
            raise ValueError(f"the {self.kind} contract loads into {CONTRACTS[self.kind].table}, not {self.output_table.name}")
        try:
            with connections.db_connection(self.output_table.conn_id) as conn:
                self.loaded_files = load_input_files(
                    connections.s3_hook(self.input_file.conn_id), conn, self.kind, self.input_file.path, self.manifest,
                    context["ds"], context["run_id"], self.output_table.metadata.schema, self.log)
        except ContractError as error:  # the files will not change by themselves: no retry
            raise AirflowFailException(str(error)) from error
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
    return [
        {
            "input_file": File(path=path, conn_id=settings.aws_conn_id, filetype=FileType.CSV),
            "output_table": Table(conn_id=settings.db_conn_id, name=CONTRACTS[kind].table,
                                  metadata=Metadata(schema=settings.db_schema)),
            "kind": kind,
            "manifest": manifest,
        }
        for kind, (path, manifest) in checked_day_inputs(ds, settings).items()
    ]


class CleanupOperator(AstroCleanupOperator):
    """`aql.cleanup`, also on a day that failed before the mapped load ran: the Astro SDK resolves the
    output of every LoadFileOperator to find temporary tables, and that of a mapped one that never ran is
    None, on which it fails. Only tasks that succeeded have outputs, so only theirs are resolved."""

    def resolve_tables_from_tasks(self, tasks, context):
        succeeded = {ti.task_id for ti in context["dag_run"].get_task_instances(state=[TaskInstanceState.SUCCESS])}
        return super().resolve_tables_from_tasks([t for t in tasks if t.task_id in succeeded], context)
