"""The pipeline's connections as its tasks open them: the Airflow connections `settings` names. The
providers are imported when a task calls these, not when a DAG file is parsed."""

from contextlib import closing

from include.finance.config import settings


def s3_hook(conn_id: str | None = None):
    """The S3 hook of the pipeline's bucket connection (or `conn_id`'s: an operator's own)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id or settings.aws_conn_id)


def db_connection(conn_id: str | None = None):
    """A psycopg2 connection to the pipeline's database (or `conn_id`'s), closed at the end of the `with` block.

    The postgres provider's hook connects with psycopg 3 where SQLAlchemy is 2 (on Airflow 3); the core's
    SQL (psycopg2's `sql` composition, `copy_expert`, named cursors) is psycopg2's, so the connection the hook
    would open, with the same arguments (host, login, the connection's extras, ...), is made by psycopg2."""
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    class Psycopg2Hook(PostgresHook):
        def _create_connection(self, conn_args):
            return psycopg2.connect(**conn_args)

    return closing(Psycopg2Hook(postgres_conn_id=conn_id or settings.db_conn_id).get_conn())
