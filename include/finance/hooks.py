"""The pipeline's connections as its tasks open them: the Airflow connections `settings` names. The
providers are imported when a task calls these, not when a DAG file is parsed."""

from contextlib import closing

from include.finance.config import settings


def s3_hook():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.aws_conn_id)


def db_connection():
    """A psycopg2 connection to the pipeline's database, closed at the end of the `with` block."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return closing(PostgresHook(postgres_conn_id=settings.db_conn_id).get_conn())
