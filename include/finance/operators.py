"""`ContractLoadOperator`: the Astro SDK's `LoadFileOperator` interface (an input `File` in object
storage, an output `Table` in the database), loading under the data contract.

Unlike `LoadFileOperator`, which infers column types from the first rows and matches columns by
position, it creates the tables with the declared types, matches columns by name, streams the files
(no pandas round trip) and quarantines bad rows: see `include/finance/load.py`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models.baseoperator import BaseOperator
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator
from airflow.providers.postgres.hooks.postgres import PostgresHook
from astro.files import File
from astro.table import BaseTable
from botocore.exceptions import ClientError

from include.finance import load
from include.finance.contract import CONTRACTS, ContractError

HEADER_BYTES = 1 << 20  # a header must fit in the first MiB of a file
CHUNK_BYTES = 1 << 20


def split_s3_path(path: str) -> tuple[str, str]:
    """s3://bucket/some/prefix/ -> (bucket, some/prefix/)"""
    if not path.startswith("s3://"):
        raise ValueError(f"expected an s3:// path, got {path!r}")
    bucket, _, prefix = path[len("s3://"):].partition("/")
    return bucket, prefix


LOADABLE = (".csv", ".csv.gz")  # a .csv.gz is decompressed as it streams


@dataclass
class DayFiles:
    """The objects under one kind's prefix: the keys to load, the others with the reason they are not
    loaded, and each loaded key's lines after the header as its manifest lists them (None: no manifest)."""

    load: list[str]
    ignored: dict[str, str]
    lines: dict[str, int] | None


def day_files(s3_hook: S3Hook, path: str, manifest: str | None = None) -> DayFiles:
    """Sort the objects under `path` (an s3:// prefix): files that are not .csv or .csv.gz are ignored.
    With a `manifest` (the s3:// key of in_finance_data's JSON for that prefix) only the files it lists
    load, a file it lists that is not in the prefix raises ContractError, and the others are ignored."""
    bucket, prefix = split_s3_path(path)
    keys = sorted(k for k in s3_hook.list_keys(bucket_name=bucket, prefix=prefix) or [] if not k.endswith("/"))
    ignored = {k: f"ignored: not a {' or '.join(LOADABLE)} file" for k in keys if not k.lower().endswith(LOADABLE)}
    csvs = [k for k in keys if k not in ignored]
    if manifest is None:
        return DayFiles(csvs, ignored, None)
    manifest_bucket, manifest_key = split_s3_path(manifest)
    if not s3_hook.check_for_key(manifest_key, bucket_name=manifest_bucket):
        raise ContractError(f"{manifest}: no manifest, so no list of the files of {path} to check them against")
    try:
        listed = {f["key"]: f["rows"] for f in json.loads(s3_hook.read_key(manifest_key, bucket_name=manifest_bucket))["files"]}
    except (ValueError, KeyError, TypeError) as error:
        raise ContractError(f"{manifest}: not a manifest of files with their rows ({error!r})") from error
    missing = [f"s3://{bucket}/{k}" for k in sorted(set(listed) - set(keys))]
    if missing:
        raise ContractError(f"{', '.join(missing)}: listed in the manifest {manifest} but not in the bucket")
    ignored.update({k: f"ignored: not listed in the manifest {manifest}" for k in csvs if k not in listed})
    load = [k for k in csvs if k in listed]
    return DayFiles(load, dict(sorted(ignored.items())), {k: listed[k] for k in load})


def gunzip(chunks: Iterable[bytes], file: str) -> Iterator[bytes]:
    """Decompress a gzip stream (one member or several in a row) in pieces of at most CHUNK_BYTES, so a
    file that expands a thousandfold still takes a piece at a time. ContractError names a broken file."""
    decompressor, started = zlib.decompressobj(wbits=31), False
    try:
        for data in chunks:
            while data:
                started = True
                piece = decompressor.decompress(data, CHUNK_BYTES)
                if piece:
                    yield piece
                if decompressor.eof:  # the next member, if any
                    data, decompressor, started = decompressor.unused_data, zlib.decompressobj(wbits=31), False
                else:
                    data = decompressor.unconsumed_tail
        if started and (rest := decompressor.flush()):
            yield rest
    except zlib.error as error:
        raise ContractError(f"{file}: not a valid gzip file ({error})") from error
    if started and not decompressor.eof:
        raise ContractError(f"{file}: the gzip stream ends early (a truncated .csv.gz)")


def read_head(s3_hook: S3Hook, bucket: str, key: str) -> bytes:
    """The first HEADER_BYTES of an object (decompressed for .gz); b"" for an empty one (S3 refuses any
    range of zero bytes)."""
    try:
        body = s3_hook.get_conn().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}")["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "InvalidRange":
            raise
        return b""
    head = body.read()
    if key.lower().endswith(".gz"):
        try:
            return zlib.decompressobj(wbits=31).decompress(head, HEADER_BYTES)
        except zlib.error as error:
            raise ContractError(f"s3://{bucket}/{key}: not a valid gzip file ({error})") from error
    return head


def stream(s3_hook: S3Hook, bucket: str, key: str) -> Iterator[bytes]:
    """The object's bytes in chunks (decompressed for .gz)."""
    body = s3_hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
    try:
        chunks = body.iter_chunks(CHUNK_BYTES)
        yield from gunzip(chunks, f"s3://{bucket}/{key}") if key.lower().endswith(".gz") else chunks
    finally:
        body.close()


def check_input_files(s3_hook: S3Hook, paths: dict[str, str], manifests: dict[str, str] | None = None) -> list[str]:
    """Check each kind's files (kind -> s3:// prefix) against its manifest (kind -> s3:// key, if given)
    and the header of every file to load against its contract; the errors, each naming the file (and
    the column), empty when every file can load."""
    errors = []
    for kind, path in paths.items():
        bucket, _ = split_s3_path(path)
        try:
            files = day_files(s3_hook, path, (manifests or {}).get(kind))
            heads = {f"s3://{bucket}/{key}": read_head(s3_hook, bucket, key) for key in files.load}
        except ContractError as error:
            errors.append(str(error))
            continue
        errors += load.check_headers(CONTRACTS[kind], heads)
    return errors


class ContractLoadOperator(BaseOperator):
    """Load every .csv and .csv.gz under `input_file.path` (an s3:// prefix) into the logical date's
    partition of `output_table`, checked against the contract of `kind`. With a `manifest` (an s3:// key:
    the files in_finance_data uploaded, with their lines) only the files it lists load, each must have the
    lines it lists, and the prefix's other files are listed in `load_audit` as ignored, as are files that
    are not CSV. A file that breaks the contract or its manifest fails the task without a retry.
    Returns the output table."""

    template_fields = ("kind", "manifest")

    def __init__(self, *, input_file: File, output_table: BaseTable, kind: str, manifest: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.input_file = input_file
        self.output_table = output_table
        self.kind = kind
        self.manifest = manifest

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
