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

from include.finance import tasks
from include.finance.config import settings
from include.finance.dag_defaults import DAG_DEFAULTS, DAILY, default_args

clear_partition = task(tasks.clear_partition)
plan_parts = task(tasks.plan_parts)
upload_part = task(map_index_template="{{ part_label }}")(tasks.upload_part)
write_manifests = task(tasks.write_manifests)


@dag(
    schedule=DAILY,
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
