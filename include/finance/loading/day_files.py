"""The day's input files in object storage, as the load reads them: which objects of a kind's prefix load
(checked against the day's manifest), their headers, and their bytes (a .csv.gz decompressed as it streams)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from botocore.exceptions import ClientError

from include.finance import connections
from include.finance.contract import CONTRACTS, MAX_LINE_BYTES, ContractError
from include.finance.loading import load_day
from include.finance.loading.load_day import check_headers

# What the header check reads of a file: a header is a line, of MAX_LINE_BYTES at most; one byte more shows a
# header that is longer (no line break in the first MAX_LINE_BYTES + 1 bytes), as the load would find it.
HEADER_BYTES = MAX_LINE_BYTES + 1
CHUNK_BYTES = 1 << 20
LOADABLE = (".csv", ".csv.gz")  # a .csv.gz is decompressed as it streams


def split_s3_path(path: str) -> tuple[str, str]:
    """s3://bucket/some/prefix/ -> (bucket, some/prefix/)"""
    if not path.startswith("s3://"):
        raise ValueError(f"expected an s3:// path, got {path!r}")
    bucket, _, prefix = path[len("s3://"):].partition("/")
    return bucket, prefix


@dataclass
class DayFiles:
    """The objects under one kind's prefix: the keys to load, the others with the reason they are not
    loaded, each loaded key's lines after the header as its manifest lists them (None: no manifest)
    and each key's size in bytes."""

    load: list[str]
    ignored: dict[str, str]
    lines: dict[str, int] | None
    sizes: dict[str, int]


def day_files(s3_hook: S3Hook, path: str, manifest: str | None = None) -> DayFiles:
    """Sort the objects under `path` (an s3:// prefix): files that are not .csv or .csv.gz are ignored.
    With a `manifest` (the s3:// key of in_finance_data's JSON for that prefix) only the files it lists
    load, a file it lists that is not in the prefix raises ContractError, and the others are ignored."""
    bucket, prefix = split_s3_path(path)
    sizes = {o["Key"]: o["Size"] for o in s3_hook.iter_file_metadata(prefix, bucket_name=bucket) if not o["Key"].endswith("/")}
    keys = sorted(sizes)
    ignored = {k: f"ignored: not a {' or '.join(LOADABLE)} file" for k in keys if not k.lower().endswith(LOADABLE)}
    csvs = [k for k in keys if k not in ignored]
    if manifest is None:
        return DayFiles(csvs, ignored, None, sizes)
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
    return DayFiles(load, dict(sorted(ignored.items())), {k: listed[k] for k in load}, sizes)


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
        errors += check_headers(CONTRACTS[kind], heads)
    return errors


def day_inputs(bucket: str, ds: str, kinds: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """kind -> (the s3:// prefix of its files of day `ds`, the s3:// key of its manifest)."""
    from include.finance.ingestion.bucket import manifest_key, partition_prefix

    return {kind: (f"s3://{bucket}/{partition_prefix(kind, ds)}", f"s3://{bucket}/{manifest_key(kind, ds)}")
            for kind in kinds}


def load_input_files(s3_hook: S3Hook, conn, kind: str, path: str, manifest: str | None, ds: str, run_id: str,
                     schema: str, log) -> dict[str, int]:
    """The contract load of one kind's files of a day, whichever edition's operator runs it: the files
    under `path` (an s3:// prefix) that `manifest` lists into the day's partition of the kind's table
    (`load.load_day`), the others listed in `load_audit` as ignored. Returns {s3:// path: bytes} of the files
    it loaded. ContractError: a file breaks the contract or its manifest (retrying cannot help)."""
    contract = CONTRACTS[kind]
    bucket, _ = split_s3_path(path)

    def name(key: str) -> str:
        return f"s3://{bucket}/{key}"

    files = day_files(s3_hook, path, manifest)
    log.info("loading %d files from %s into %s (%d ignored)", len(files.load), path, contract.table, len(files.ignored))
    load_day.load_day(
        conn,
        contract,
        {name(key): (lambda key=key: stream(s3_hook, bucket, key)) for key in files.load},
        ds=ds,
        run_id=run_id,
        schema=schema,
        expected_lines=None if files.lines is None else {name(k): n for k, n in files.lines.items()},
        ignored_files={name(key): why for key, why in files.ignored.items()},
    )
    return {name(key): files.sizes[key] for key in files.load}


def checked_day_inputs(ds: str, settings) -> dict[str, tuple[str, str]]:
    """`day_inputs` of the day, once every file its manifests list is in the bucket and every header passed
    the contract; otherwise AirflowFailException (no retry: the files will not change by themselves)
    naming every file that breaks it."""
    from include.finance.contract import KINDS
    from include.finance.edition import AirflowFailException

    inputs = day_inputs(settings.data_bucket_name, ds, KINDS)
    errors = check_input_files(connections.s3_hook(settings.aws_conn_id), {kind: path for kind, (path, _) in inputs.items()},
                               {kind: manifest for kind, (_, manifest) in inputs.items()})
    if errors:
        raise AirflowFailException("input files break the data contract, nothing was loaded:\n" + "\n".join(errors))
    return inputs
