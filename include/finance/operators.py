"""`ContractLoadOperator`: the Astro SDK's `LoadFileOperator` interface (an input `File` in object
storage, an output `Table` in the database), loading under the data contract.

Unlike `LoadFileOperator`, which infers column types from the first rows and matches columns by
position, it creates the tables with the declared types, matches columns by name, streams the files
(no pandas round trip) and quarantines bad rows: see `include/finance/load.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing

from airflow.exceptions import AirflowException
from airflow.models.baseoperator import BaseOperator
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator
from airflow.providers.postgres.hooks.postgres import PostgresHook
from astro.files import File
from astro.table import BaseTable
from botocore.exceptions import ClientError

from include.finance import load
from include.finance.contract import CONTRACTS

HEADER_BYTES = 1 << 20  # a header must fit in the first MiB of a file
CHUNK_BYTES = 1 << 20


def split_s3_path(path: str) -> tuple[str, str]:
    """s3://bucket/some/prefix/ -> (bucket, some/prefix/)"""
    if not path.startswith("s3://"):
        raise ValueError(f"expected an s3:// path, got {path!r}")
    bucket, _, prefix = path[len("s3://"):].partition("/")
    return bucket, prefix


def list_csv_keys(s3_hook: S3Hook, path: str) -> list[str]:
    bucket, prefix = split_s3_path(path)
    return sorted(k for k in s3_hook.list_keys(bucket_name=bucket, prefix=prefix) or [] if k.lower().endswith(".csv"))


def read_head(s3_hook: S3Hook, bucket: str, key: str) -> bytes:
    """The first HEADER_BYTES of an object; b"" for an empty one (S3 refuses any range of zero bytes)."""
    try:
        body = s3_hook.get_conn().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}")["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "InvalidRange":
            raise
        return b""
    return body.read()


def stream(s3_hook: S3Hook, bucket: str, key: str) -> Iterable[bytes]:
    body = s3_hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def check_input_files(s3_hook: S3Hook, paths: dict[str, str]) -> list[str]:
    """Check the header of every CSV under each kind's s3:// path (kind -> path) against its contract;
    the errors, each naming the file and the column (empty when every file can load)."""
    errors = []
    for kind, path in paths.items():
        bucket, _ = split_s3_path(path)
        heads = {f"s3://{bucket}/{key}": read_head(s3_hook, bucket, key) for key in list_csv_keys(s3_hook, path)}
        errors += load.check_headers(CONTRACTS[kind], heads)
    return errors


class ContractLoadOperator(BaseOperator):
    """Load every CSV under `input_file.path` (an s3:// prefix) into the logical date's partition of
    `output_table`, checked against the contract of `kind`. Returns the output table."""

    template_fields = ("kind",)

    def __init__(self, *, input_file: File, output_table: BaseTable, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.input_file = input_file
        self.output_table = output_table
        self.kind = kind

    def execute(self, context) -> BaseTable:
        contract = CONTRACTS[self.kind]
        if self.output_table.name != contract.table:
            raise ValueError(f"the {self.kind} contract loads into {contract.table}, not {self.output_table.name}")
        s3_hook = S3Hook(aws_conn_id=self.input_file.conn_id)
        bucket, _ = split_s3_path(self.input_file.path)
        keys = list_csv_keys(s3_hook, self.input_file.path)
        self.log.info("loading %d files from %s into %s", len(keys), self.input_file.path, contract.table)
        with closing(PostgresHook(postgres_conn_id=self.output_table.conn_id).get_conn()) as conn:
            load.load_day(
                conn,
                contract,
                {f"s3://{bucket}/{key}": (lambda key=key: stream(s3_hook, bucket, key)) for key in keys},
                ds=context["ds"],
                run_id=context["run_id"],
                schema=self.output_table.metadata.schema,
            )
        return self.output_table


class RowsColumnCheckOperator(SQLColumnCheckOperator):
    """`SQLColumnCheckOperator` that fails when there are no rows to check: the min or max of no rows is
    NULL, which the provider's check compares as 0 (`accept_none`), so an empty day would pass its range gates."""

    def execute(self, context):
        where = f" WHERE {self.partition_clause}" if self.partition_clause else ""
        (rows,) = self.get_db_hook().get_first(f"SELECT COUNT(*) FROM {self.table}{where}")
        if not rows:
            raise AirflowException(f"{self.table}{where}: no rows, nothing to check: an empty day fails its gates")
        return super().execute(context)
