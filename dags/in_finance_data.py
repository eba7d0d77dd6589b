"""
### Ingest the day's finance data into object storage

Stands in for whatever drops files into your bucket (exports, vendors, a Kafka S3 sink): writes
seeded mock Stripe charges and customer-satisfaction scores for the run's logical date as CSV part
files (or takes your own CSVs from `INPUT_DATA_DIR`), creates the bucket, clears the day's partition
and uploads every file with a dynamically mapped `LocalFilesystemToS3Operator`. A manifest per kind,
written last, tells `finance_elt` that the day is complete.

Layout: `s3://<DATA_BUCKET_NAME>/<kind>/dt=<ds>/<kind>_part_NNN.csv` and
`s3://<DATA_BUCKET_NAME>/manifests/dt=<ds>/<kind>.json`. Size: `MOCK_DATA_SCALE`, `MOCK_DATA_PARTS`.
"""

from datetime import datetime, timedelta

from airflow.decorators import dag, task
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.providers.amazon.aws.transfers.local_to_s3 import LocalFilesystemToS3Operator

from include.finance import alerts, config


@dag(
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "on_failure_callback": alerts.FAILURE_CALLBACKS},
    tags=["finance", "ingest"],
    doc_md=__doc__,
)
def in_finance_data():
    @task
    def generate_mock_data(ds=None) -> dict[str, list[str]]:
        """The day's CSV files per kind: the user's own from INPUT_DATA_DIR, else freshly generated."""
        import datetime as dt

        from include.finance.mock_data import generate_mock_data
        from include.finance.storage import input_files

        if config.INPUT_DATA_DIR is not None:
            return input_files(config.INPUT_DATA_DIR, config.FILE_KINDS)
        written = generate_mock_data(
            config.MOCK_DATA_DIR / f"dt={ds}",
            dt.date.fromisoformat(ds),
            customers=config.MOCK_DATA_CUSTOMERS,
            scale=config.MOCK_DATA_SCALE,
            parts=config.MOCK_DATA_PARTS,
            seed=config.MOCK_DATA_SEED,
        )
        return {kind: [str(p) for p in paths] for kind, paths in written.items()}

    create_bucket = S3CreateBucketOperator(
        task_id="create_bucket", bucket_name=config.DATA_BUCKET_NAME, aws_conn_id=config.AWS_CONN_ID
    )

    @task
    def clear_partition(ds=None) -> int:
        """Remove the day's old files and manifests: a rerun must not keep stale parts."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.finance.storage import clear_partition

        return clear_partition(S3Hook(aws_conn_id=config.AWS_CONN_ID), config.DATA_BUCKET_NAME, ds, config.FILE_KINDS)

    @task
    def get_upload_kwargs(files: dict[str, list[str]], ds=None) -> list[dict[str, str]]:
        from include.finance.storage import upload_kwargs

        return upload_kwargs(files, ds)

    @task
    def write_manifests(uploads: list[dict[str, str]], ds=None) -> list[str]:
        """Mark the day complete, after every part is uploaded."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.finance.storage import write_manifests

        hook = S3Hook(aws_conn_id=config.AWS_CONN_ID)
        return write_manifests(hook, config.DATA_BUCKET_NAME, ds, uploads, config.FILE_KINDS)

    upload_kwargs = get_upload_kwargs(generate_mock_data())
    upload_mock_data = LocalFilesystemToS3Operator.partial(
        task_id="upload_mock_data",
        dest_bucket=config.DATA_BUCKET_NAME,
        aws_conn_id=config.AWS_CONN_ID,
        replace=True,
    ).expand_kwargs(upload_kwargs)

    create_bucket >> clear_partition() >> upload_mock_data >> write_manifests(upload_kwargs)


in_finance_data()
