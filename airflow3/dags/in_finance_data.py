"""
### Ingest the day's finance data into object storage (Airflow 3 edition)

The same DAG as the default edition's `dags/in_finance_data.py` (its description says what each task does),
on Airflow 3: `airflow.sdk`'s `dag` and `task`; the tasks are the shared ones (`include/finance/tasks.py`).
"""

from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.sdk import dag, task

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
    tags=["finance", "ingest", "airflow-3"],
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
