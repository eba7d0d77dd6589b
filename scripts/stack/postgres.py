"""The stack's private PostgreSQL cluster: Airflow's metadata (database `airflow`, so the LocalExecutor
runs mapped tasks in parallel) and the pipeline's data (the local profile's database, `settings.db_name`)."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path

from psycopg2 import sql as pgsql

from include.finance import sql

from .common import StackError, local_secret, log, running, settings, wait_for

PG_USER = "postgres"  # its password is made per clone: Postgres.pg_password, in <state>/pg_password
METADATA_DB = "airflow"
# Airflow's metadata database ends a session that stays idle inside a transaction this long. A process that
# died or hangs while it holds scheduler row locks (`dag_run ... FOR UPDATE`) otherwise stops every later
# scheduler, which skips locked runs, for as long as that process lives: nothing fails and nothing runs.
# No Airflow component waits this long between two statements of one transaction (the scheduler's loop,
# heartbeats and task state changes are transactions of milliseconds to seconds, also on two busy cores: no
# session was ended by it in `make run` with both cores saturated, docs/benchmarks.md); it is twice the
# scheduler's health-check threshold (30 s), within which a working scheduler finishes a whole loop.
# Only the metadata database: the pipeline's own transactions (a champion decided under a table lock while
# two models are scored) may legitimately wait longer on Python between sql.
METADATA_IDLE_IN_TRANSACTION_TIMEOUT = "60s"


def find_pg_bin() -> Path | None:
    """The PostgreSQL server binaries: $PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, or PATH."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else "")
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def as_pg_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; there, its commands run as the `postgres` system user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Postgres:
    """The cluster's part of `Stack` (which gives `state_dir` and `pg_port`)."""

    state_dir: Path
    pg_port: int

    @cached_property
    def pg_data(self) -> Path:
        """`<state>/postgres`; as root, where the `postgres` user cannot reach that, a folder under /tmp
        (`private_folder`: there any user could have put something at its name first)."""
        if os.geteuid() == 0 and not _postgres_user_can_reach(self.state_dir):
            digest = hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
            return private_folder(Path(tempfile.gettempdir()) / f"finance-elt-ml-postgres-{digest}")
        return self.state_dir / "postgres"

    @property
    def pg_password(self) -> str:
        """The cluster's superuser password: random, made once per state folder in <state>/pg_password."""
        return local_secret(self.state_dir / "pg_password")

    def db_uri(self, database: str, driver: str = "postgresql", password: bool = True) -> str:
        """The database's URI; without the password for a command line (`ps` shows it): set `psql_env()` then."""
        secret = f":{self.pg_password}" if password else ""
        return f"{driver}://{PG_USER}{secret}@{settings.db_host}:{self.pg_port}/{database}"

    def psql_env(self) -> dict[str, str]:
        """The environment for `psql` and other libpq clients given `db_uri(..., password=False)`."""
        return {**os.environ, "PGPASSWORD": self.pg_password}

    def psql(self, *args: str, stdin: str | None = None) -> str:
        """`psql` on the pipeline's database with `args`; its output."""
        argv = [str(find_pg_bin() / "psql"), self.db_uri(settings.db_name, password=False), "-q", *args]
        return subprocess.run(argv, input=stdin, env=self.psql_env(), check=True, capture_output=True, text=True).stdout

    def start_postgres(self) -> None:
        pg_bin = find_pg_bin()
        if pg_bin is None:
            raise StackError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql, "
                             "or set PG_BIN")
        if not (self.pg_data / "PG_VERSION").exists():
            log(f"initdb {self.pg_data}")
            self.pg_data.mkdir(parents=True, exist_ok=True)
            # a copy of the password for initdb, next to the cluster (where `postgres` can read it under root)
            fd, pwfile = tempfile.mkstemp(dir=self.pg_data.parent, prefix=".initdb-pwfile-")
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(self.pg_password + "\n")
                if os.geteuid() == 0:
                    shutil.chown(self.pg_data, "postgres", "postgres")
                    shutil.chown(pwfile, "postgres", "postgres")
                self._run_pg([str(pg_bin / "initdb"), "-D", str(self.pg_data), "-U", PG_USER, "-E", "UTF8",
                              "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"])
            finally:
                os.unlink(pwfile)
        if not ((self.pg_data / "postmaster.pid").exists() and self.pg_ready()):
            options = (
                f"-p {self.pg_port} -c listen_addresses={settings.db_host} -k {self.pg_data} -c max_connections=200"
                # A throwaway development cluster: durability against OS crashes is not worth the time.
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                # No replicas: a COPY into a table created in the same transaction (the load's new
                # partition) then writes no WAL, as in PostgreSQL's "Populating a Database"
                " -c wal_level=minimal -c max_wal_senders=0"
            )
            self._run_pg([str(pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-l", str(self.pg_data / "server.log"),
                          "-o", options, "-w", "-t", "60", "start"])
        self._set_pg_password()  # also for a cluster made with another password (the older fixed default)
        for database in (METADATA_DB, settings.db_name):
            self._ensure_database(database)
        self.configure_metadata_database()
        log(f"PostgreSQL on {settings.db_host}:{self.pg_port} (databases {METADATA_DB}, {settings.db_name})")

    def stop_postgres(self) -> None:
        pg_bin = find_pg_bin()
        postmaster = self.pg_data / "postmaster.pid"
        if pg_bin and postmaster.exists():
            pid = int(postmaster.read_text().split()[0])
            subprocess.run(as_pg_user([str(pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w", "stop"]),
                           capture_output=True)
            # pg_ctl returns when the pid file is gone, a moment before the postmaster has exited
            wait_for(lambda: not running(pid), 30, "PostgreSQL to exit", every=0.1)

    def postmaster_pid(self) -> int | None:
        postmaster = self.pg_data / "postmaster.pid"
        return int(postmaster.read_text().split()[0]) if postmaster.exists() else None

    def _run_pg(self, argv: list[str]) -> None:
        proc = subprocess.run(as_pg_user(argv), capture_output=True, text=True)
        if proc.returncode != 0:
            server_log = self.pg_data / "server.log"
            tail = server_log.read_text()[-2000:] if server_log.exists() else ""
            raise StackError(f"{' '.join(argv[:1])} failed:\n{proc.stdout}\n{proc.stderr}\n{tail}")

    def _connect_admin(self):
        """The cluster's `postgres` database through the Unix socket in the data folder (trusted): works
        whatever the password."""
        import psycopg2

        return psycopg2.connect(host=str(self.pg_data), port=self.pg_port, user=PG_USER, dbname="postgres",
                                connect_timeout=3)

    def pg_ready(self) -> bool:
        import psycopg2

        try:
            self._connect_admin().close()
        except psycopg2.OperationalError:
            return False
        return True

    def _set_pg_password(self) -> None:
        """Give the superuser `pg_password`, sent as a SCRAM verifier: no statement the server could log holds it."""
        from psycopg2.extensions import encrypt_password

        conn = self._connect_admin()
        try:
            verifier = encrypt_password(self.pg_password, PG_USER, conn, "scram-sha-256")
        finally:
            conn.close()
        self.admin(sql.compose("stack/set_password.sql", role=PG_USER), verifier)

    def admin(self, statement, *params):
        """One statement on the cluster's `postgres` database, outside a transaction; its first row, if any."""
        conn = self._connect_admin()
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params or None)
                return cur.fetchone() if cur.description else None
        finally:
            conn.close()

    def configure_metadata_database(self) -> None:
        """Settings of Airflow's metadata database, for the sessions opened after this (a per-database
        setting: a copy of the template made by `fresh_metadata` needs it again)."""
        self.admin(sql.compose("stack/idle_in_transaction_timeout.sql", database=METADATA_DB,
                                      timeout=pgsql.Literal(METADATA_IDLE_IN_TRANSACTION_TIMEOUT)))

    def _ensure_database(self, name: str) -> None:
        if self.admin(sql.read("stack/database_exists.sql"), name) is None:
            self.admin(sql.compose("stack/create_database.sql", database=name))

    def drop_database(self, name: str) -> None:
        self.admin(sql.compose("stack/drop_database.sql", database=name))


def private_folder(path: Path) -> Path:
    """`path`, a folder in a folder every user can write to (/tmp), made here (mode 0700) or made by an earlier
    run: a real folder (not a symbolic link) owned by root or `postgres`, that no one else can write to. Its
    name is predictable (one per state folder, kept across runs), so another user could have made it first,
    or a link there to anywhere else: initdb and `make reset` would then write or delete there."""
    import pwd

    try:
        os.mkdir(path, 0o700)  # does not follow a link at `path`
    except FileExistsError:
        pass
    info = os.lstat(path)
    owners = {os.geteuid(), pwd.getpwnam("postgres").pw_uid}
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StackError(f"{path} (where PostgreSQL's data goes) is not a folder but "
                         + ("a symbolic link" if stat.S_ISLNK(info.st_mode) else "a file")
                         + ": refusing to use it; remove it if it is yours, or set up the stack in a folder the "
                         "`postgres` user can reach")
    if info.st_uid not in owners or info.st_mode & 0o022:
        raise StackError(f"{path} (where PostgreSQL's data goes) is owned by uid {info.st_uid} with mode "
                         f"{stat.S_IMODE(info.st_mode):o}: another user made it or can write to it; refusing to use "
                         "it. Remove it if it is yours, or set up the stack in a folder the `postgres` user can reach")
    return path


def _postgres_user_can_reach(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)]).returncode == 0
