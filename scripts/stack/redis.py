"""Redis, Celery's broker (CeleryExecutor only): in memory, nothing saved."""

from __future__ import annotations

import socket

from .common import log, wait_for


def redis_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """Redis's part of `Stack` (which gives `redis_port` and its process helpers)."""

    redis_port: int

    def start_redis(self) -> None:
        self._spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                              "--save", "", "--appendonly", "no"])
        wait_for(lambda: redis_ok(self.redis_port), 30, "Redis", self.log_dir / "redis.log", every=0.2)
        log(f"Redis on 127.0.0.1:{self.redis_port}")
