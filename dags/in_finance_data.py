"""
### Ingest the day's finance data into object storage

Stands in for whatever drops files into your bucket (exports, vendors, a Kafka S3 sink): creates the
bucket, clears the day's partition, then one dynamically mapped `upload_part` task per part writes
seeded mock Stripe charges and customer-satisfaction scores for the run's logical date as CSV and
streams them straight to object storage (or uploads one of your own CSVs from `INPUT_DATA_DIR`, a
folder on the worker). A manifest per kind, built from what the parts reported and checked against
the objects, is written last and tells `finance_elt` that the day is complete.

No task reads a file another task wrote: each part is produced and uploaded by the same task, so
the DAG runs the same on one machine, on Celery workers or in Kubernetes pods.

Layout: `s3://<DATA_BUCKET_NAME>/<kind>/dt=<ds>/<kind>_part_NNN.csv` and
`s3://<DATA_BUCKET_NAME>/manifests/dt=<ds>/<kind>.json`. Size: `MOCK_DATA_SCALE`, `MOCK_DATA_PARTS`;
`MOCK_DATA_SHIFT_FROM` plants a shift from a day on, for the model monitoring to catch.
"""


from airflow.decorators import dag, task
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator

from include.finance.config import settings
from include.finance.dag_defaults import DAG_DEFAULTS, default_args
from include.finance.contract import KINDS
from include.finance.hooks import s3_hook


@task
def clear_partition(ds=None) -> int:
    """Remove the day's old files and manifests: a rerun must not keep stale parts."""
    from include.finance import storage

    return storage.clear_partition(s3_hook(), settings.data_bucket_name, ds, KINDS)


@task
def plan_parts() -> list[dict]:
    """One entry per upload_part task: a generated part number, or one of the user's files."""
    from include.finance import storage

    return storage.plan_parts(settings.input_data_dir, KINDS, settings.mock_data_parts)


@task(map_index_template="{{ part_label }}")
def upload_part(part: dict, ds=None, logical_date=None) -> list[dict]:
    """Produce one part and stream it to the bucket; report each object's key, rows and bytes."""
    from functools import partial

    from airflow.operators.python import get_current_context

    from include.finance import mock_data, storage

    get_current_context()["part_label"] = part.get("file") or f"part {part['part']}"
    generate = partial(mock_data.write_part, logical_date=logical_date.date(), customers=settings.mock_data_customers,
                       scale=settings.mock_data_scale, parts=settings.mock_data_parts, seed=settings.mock_data_seed,
                       shift_from=settings.shift_from)
    return storage.upload_part(s3_hook(), settings.data_bucket_name, ds, part, KINDS, generate)


@task
def write_manifests(reports: list[list[dict]], ds=None) -> list[str]:
    """Mark the day complete, after every part is uploaded and found in the bucket."""
    from include.finance import storage

    uploaded = [report for part in reports for report in part]
    return storage.write_manifests(s3_hook(), settings.data_bucket_name, ds, uploaded, KINDS)


@dag(
    schedule="@daily",
    default_args=default_args("data-eng"),
    **DAG_DEFAULTS,
    tags=["finance", "ingest"],
    doc_md=__doc__,
)
def in_finance_data():
    create_bucket = S3CreateBucketOperator(
        task_id="create_bucket", bucket_name=settings.data_bucket_name, aws_conn_id=settings.aws_conn_id
    )
    parts = upload_part.expand(part=plan_parts())
    create_bucket >> clear_partition() >> parts
    write_manifests(parts)


in_finance_data()
