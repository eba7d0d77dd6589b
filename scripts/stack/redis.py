"""Redis, Celery's broker (CeleryExecutor only): in memory, nothing saved. Its password is made per state
folder (<state>/redis_password) as the database's is: on loopback any user of the machine could reach it."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from .common import local_secret, log, wait_for


def redis_ok(port: int, password: str) -> bool:
    """Whether the Redis on `port` answers PING after AUTH with `password` (an unauthenticated PING is refused)."""

    def command(*parts: str) -> bytes:  # RESP: any byte of the password is sent as it is
        return f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p.encode())}\r\n{p}\r\n".encode() for p in parts)

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(command("AUTH", password) + command("PING"))
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = conn.recv(256)
                if not chunk:
                    break
                answer += chunk
            return answer.split(b"\r\n")[:2] == [b"+OK", b"+PONG"]
    except OSError:
        return False


class Redis:
    """Redis's part of `Stack` (which gives `state_dir`, `redis_port` and its process helpers)."""

    state_dir: Path
    redis_port: int

    @property
    def redis_password(self) -> str:
        """The broker's password: random, made once per state folder in <state>/redis_password."""
        return local_secret(self.state_dir / "redis_password")

    @property
    def broker_url(self) -> str:
        """Celery's broker URL, with the password: only ever in the environment of Airflow's processes."""
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0"

    def redis_config(self) -> Path:
        """<state>/redis.conf (mode 0600), rewritten on each start: the password reaches redis-server through it,
        not through its command line, which `ps` shows to every user."""
        path = self.state_dir / "redis.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".redis.conf-")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(f"bind 127.0.0.1\nport {self.redis_port}\nsave \"\"\nappendonly no\n"
                      f"requirepass {self.redis_password}\n")
        os.replace(draft, path)
        return path

    def start_redis(self) -> None:
        self._spawn("redis", ["redis-server", str(self.redis_config())], port=self.redis_port)
        wait_for(lambda: redis_ok(self.redis_port, self.redis_password), 30, "Redis", self.log_dir / "redis.log",
                 every=0.2)
        log(f"Redis on 127.0.0.1:{self.redis_port}")
