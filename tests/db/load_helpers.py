"""What the contract-load tests share: a fresh quoted schema with the stack's connections in the environment
(`db`), the stack's S3 endpoint with a bucket (`s3`), and the load run as a task runs it (`run_load`)."""


import psycopg2
import pytest

from include.finance import schema, sql
from include.finance.contract import CHARGE, SATISFACTION
from tests.editions import AIRFLOW_3

SCHEMA = "Load Test"
BUCKET = "load-test"
SAT_HEADER = b"customer_id,customer_satisfaction_speed,customer_satisfaction_product,customer_satisfaction_service,product_type\n"
CHARGE_HEADER = b"id,amount,amount_captured,currency,created,customer_id,paid,status,description\n"


@pytest.fixture(scope="module")
def s3(stack):
    from scripts.stack import s3_client

    stack.start_s3()
    client = s3_client(stack)
    client.create_bucket(Bucket=BUCKET)
    yield client
    stack.stop_s3()


@pytest.fixture
def db(stack, s3, monkeypatch):
    """A fresh schema; the Airflow connections of the stack in the environment."""
    for name in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_POSTGRES_DEFAULT"):
        monkeypatch.setenv(name, stack.env()[name])
    conn = psycopg2.connect(stack.db_uri("finance"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {t()} CASCADE")
    schema.create_tables(conn, SCHEMA)
    yield conn
    conn.close()


def t(*name: str) -> str:
    """The quoted schema, or a table in it."""
    return sql.quoted(SCHEMA, *name)


def put(s3, ds: str, kind: str, name: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{kind}/dt={ds}/{name}", Body=body)


def clear(s3, ds: str) -> None:
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="").get("Contents", []):
        if f"/dt={ds}/" in item["Key"]:
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])


def run_load(kind: str, ds: str, run_id: str = "test_run", schema: str = SCHEMA, manifest: str | None = None):
    path = f"s3://{BUCKET}/{kind}/dt={ds}/"
    if AIRFLOW_3:
        from include.finance.operators_airflow3 import ContractLoadOperator

        operator = ContractLoadOperator(task_id=f"load_{kind}", kind=kind, path=path, manifest=manifest,
                                        aws_conn_id="aws_default", conn_id="postgres_default", schema=schema)
    else:
        from astro.constants import FileType
        from astro.files import File
        from astro.table import Metadata, Table

        from include.finance.operators import ContractLoadOperator

        contract = {"charge": CHARGE, "satisfaction": SATISFACTION}[kind]
        operator = ContractLoadOperator(
            task_id=f"load_{kind}",
            input_file=File(path=path, conn_id="aws_default", filetype=FileType.CSV),
            output_table=Table(conn_id="postgres_default", name=contract.table, metadata=Metadata(schema=schema)),
            kind=kind,
            manifest=manifest,
        )
    return operator.execute({"ds": ds, "run_id": run_id})


def query(conn, statement: str, *params):
    with conn.cursor() as cur:
        cur.execute(statement, params or None)
        return cur.fetchall()


def audit(conn, ds: str, kind: str) -> dict:
    rows = query(conn, f"SELECT file, rows_read, rows_loaded, rows_rejected, duplicates_dropped, note"
                       f" FROM {t('load_audit')} WHERE ds = %s AND kind = %s", ds, kind)
    return {file.rsplit("/", 1)[1]: tuple(rest) for file, *rest in rows}


def rejects(conn, ds: str, kind: str) -> list:
    rows = query(conn, f"SELECT file, line, reason, raw_line FROM {t('load_rejects')}"
                       f" WHERE ds = %s AND kind = %s ORDER BY file, line", ds, kind)
    return [(file.rsplit("/", 1)[1], line, reason, raw) for file, line, reason, raw in rows]


def snapshot(conn, table: str) -> list:
    return query(conn, f"SELECT * FROM {t(table)} ORDER BY 1, 2")
