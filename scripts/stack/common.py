"""What every part of the local stack shares: its settings, errors, logging and waiting."""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from include.finance.config import DAG_IDS, PROJECT_ROOT, Settings  # noqa: F401 (DAG_IDS: the stack's modules' too)
from include.finance.edition import AIRFLOW_3, AIRFLOW_VERSION  # noqa: F401 (AIRFLOW_VERSION: the stack's modules')


# The edition is the venv's Airflow (make AIRFLOW=3 uses .venv-airflow3): its DAG folder, lock and local state.
# (In the Airflow 3 edition's own Astro project, `make astro-project AIRFLOW=3`, its DAGs are dags/.)
DAGS_FOLDER = PROJECT_ROOT / "airflow3" / "dags" if AIRFLOW_3 and (PROJECT_ROOT / "airflow3" / "dags").is_dir() else PROJECT_ROOT / "dags"
LOCK = PROJECT_ROOT / ("requirements-airflow3.lock" if AIRFLOW_3 else "requirements.lock")
LOCAL = PROJECT_ROOT / ".local" / "airflow3" if AIRFLOW_3 else PROJECT_ROOT / ".local"  # git-ignored


def local_settings(environ=os.environ) -> Settings:
    """The stack is the local profile whatever ENVIRONMENT says (its own PostgreSQL, moto's S3 endpoint);
    its Airflow processes get ENVIRONMENT=local, so the tasks build these same settings."""
    return Settings.from_env({**environ, "ENVIRONMENT": "local"})


settings = local_settings()

UI_USER = UI_PASSWORD = "admin"  # documented local login of the UI and the REST API
DASHBOARD_USER = "dashboard"  # the results dashboard's login: of the database (read-only role) and of Airflow (Viewer)


class StackError(RuntimeError):
    """Something in the local stack did not come up or the pipeline failed; the message says what."""


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def local_secret(path: Path) -> str:
    """The secret kept in `path` (mode 0600), made (random) when there is none yet: one per clone and state folder."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(16) + "\n")
        try:
            os.link(draft, path)  # atomic: of two processes making it at once, both read the first one's
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # made readable to others by an older version
    return path.read_text().strip()


def port_holder(port: int) -> str | None:
    """What listens on 127.0.0.1:`port` ("pid N: its command line", or "a process" where that cannot be seen), or
    None when nothing does."""
    import socket

    import psutil

    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return None
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            try:
                return f"pid {conn.pid}: {' '.join(psutil.Process(conn.pid).cmdline())}"
            except psutil.Error:
                break
    return "a process"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_for(check, timeout: float, what: str, log_file: Path | None = None, every: float = 1.0):
    """Call `check` until it returns something true. An Airflow API that does not answer, or answers
    with a server error (the webserver restarting, its database restarting), counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            result = None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            result = None
        if result:
            return result
        time.sleep(every)
    tail = log_file.read_text(errors="replace")[-3000:] if log_file and log_file.exists() else ""
    raise StackError(f"{what} not ready after {timeout:.0f}s" + (f"; end of {log_file}:\n{tail}" if tail else ""))


# --- processes, by the PIDs the stack recorded -----------------------------------------------------

def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def reap(pid: int) -> None:
    """Collect the exit status of a process this one started, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def process_tree(pid: int) -> list:
    """The process and every descendant it has now (psutil.Process objects, each fixed at its start time)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_all(procs: list, timeout: float = 30.0) -> None:
    """SIGKILL those of `procs` still running (a PID reused since is left alone) and wait until they are gone."""
    import psutil

    for proc in procs:
        try:
            proc.kill()  # psutil checks the start time first
        except psutil.NoSuchProcess:
            pass
    gone, left = psutil.wait_procs(procs, timeout=timeout)
    for proc in left:
        log(f"process {proc.pid} still running {timeout:.0f} s after SIGKILL")
