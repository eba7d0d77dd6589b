"""Start the MLflow server of the compose file: its databases and bucket first (made where missing), then its
basic-auth settings (the admin's password comes from MLFLOW_AUTH_ADMIN_PASSWORD), then `mlflow server`.
The local stack does the same in scripts/stack/mlflow.py."""

import os
import sys

import boto3
import psycopg2
from psycopg2 import sql

ADMIN_DB = os.environ["MLFLOW_ADMIN_DB_URI"]  # the Postgres server's `postgres` database, as a superuser
BACKEND_DB, AUTH_DB = "mlflow", "mlflow_auth"
BUCKET = os.environ["MLFLOW_BUCKET"]


def database_uri(name: str) -> str:
    return ADMIN_DB.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1) + f"/{name}"


conn = psycopg2.connect(ADMIN_DB)
conn.autocommit = True
with conn.cursor() as cur:
    for name in (BACKEND_DB, AUTH_DB):
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
conn.close()
s3 = boto3.client("s3", endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL"))  # unset: AWS's S3
if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
    s3.create_bucket(Bucket=BUCKET)
config = os.path.expanduser("~/basic_auth.ini")
with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    out.write("[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
              f"database_uri = {database_uri(AUTH_DB)}\nadmin_username = admin\n"
              "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
              "grant_default_workspace_access = false\nauth_cache_ttl_seconds = 60\n")
os.environ.update(MLFLOW_AUTH_CONFIG_PATH=config, MLFLOW_BACKEND_STORE_URI=database_uri(BACKEND_DB))
os.execvp("mlflow", ["mlflow", "server", "--app-name", "basic-auth", *sys.argv[1:]])
