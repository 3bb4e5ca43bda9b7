"""Shared plumbing for ``bench/flashsale.py`` and ``bench/queue.py``.

Child processes (servers, workers, the load generator) each get their own
process group, so stopping one stops everything it forked (uvicorn's
``--workers`` children included) and nothing else.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECRET_KEY = "bench-secret-key-not-for-production"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def livecart_exe() -> str:
    exe = Path(sys.executable).parent / "livecart"
    return str(exe) if exe.exists() else (shutil.which("livecart") or "livecart")


def base_env(**extra: str | None) -> dict[str, str]:
    """The environment for livecart children: no inherited DATABASE_URL/REDIS_URL/PORT."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "PORT", "LIVECART_ENV"}
    }
    env["SECRET_KEY"] = SECRET_KEY
    env["PYTHONUNBUFFERED"] = "1"
    # Benchmarks take no money, and all their buyers sign up from this one address.
    env["LIVECART_PAYMENTS"] = "test"
    env["LIVECART_REGISTRATIONS_PER_ADDRESS"] = "0"
    env["LIVECART_LOGIN_FAILURES_PER_ADDRESS"] = "0"
    for key, value in extra.items():
        if value is not None:
            env[key] = value
    return env


# ---------------------------------------------------------------- processes


class Child:
    """A child process in its own session/process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path,
                 logfile: Path) -> None:  # fmt: skip
        self.name = name
        self.cmd = cmd
        self.logfile = logfile
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT the group (uvicorn and the worker shut down cleanly), then SIGKILL it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        # Whatever is left in the group (a uvicorn worker that did not exit): kill it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """A list to put children in; every one is stopped on the way out, whatever happens."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            try:
                child.stop()
            except Exception as exc:  # keep stopping the others
                log(f"  stopping {child.name} failed: {exc!r}")


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of the live processes in a process group."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_by_command(names: tuple[str, ...] = ("postgres", "redis-server")) -> dict[str, float]:
    """User+system CPU seconds of the live processes whose command name is in ``names``.

    PostgreSQL backends are forked per connection; the benchmark's pools keep
    theirs open, so a before/after difference counts the work they did.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(names, 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        if comm in totals:
            fields = raw.rsplit(")", 1)[1].split()
            totals[comm] += (int(fields[11]) + int(fields[12])) / ticks
    return totals


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return round(100 * busy / total, 1) if total else 0.0


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- services


def pg_url(base: str, dbname: str, driver: str = "postgresql") -> str:
    """``postgresql://user@host:port/`` + ``dbname`` (optionally another driver prefix)."""
    url = base.rstrip("/") + "/" + dbname
    if driver != "postgresql":
        url = url.replace("postgresql://", f"{driver}://", 1)
    return url


async def recreate_database(base: str, dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url(base, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


async def drop_database(base: str, dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url(base, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
    finally:
        await conn.close()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


async def service_versions(pg_base: str, redis_url: str) -> dict[str, str]:
    found: dict[str, str] = {}
    with contextlib.suppress(Exception):
        import asyncpg

        conn = await asyncpg.connect(pg_url(pg_base, "postgres"))
        try:
            found["postgresql"] = str(await conn.fetchval("SHOW server_version"))
            found["pg_max_connections"] = str(await conn.fetchval("SHOW max_connections"))
        finally:
            await conn.close()
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            found["redis"] = str(client.info("server")["redis_version"])
        finally:
            client.close()
    return found


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
            text=True, timeout=5,
        ).stdout.strip()  # fmt: skip
    return {
        "commit": commit,
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m_at_start": loadavg(),
    }


# ---------------------------------------------------------------- HTTP


def http_json(
    port: int, method: str, path: str, body: Any = None, token: str | None = None,
    headers: dict[str, str] | None = None, timeout: float = 30,
) -> tuple[int, Any]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, sent)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode(errors="replace")
        return resp.status, data
    finally:
        conn.close()


def rest(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, data = http_json(port, method, path, body, token)
    if status >= 300:
        raise RuntimeError(f"{method} {path} -> {status} {data}")
    return data


def wait_ready(port: int, child: Child, path: str = "/readyz", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with contextlib.suppress(OSError):
            status, _ = http_json(port, "GET", path, timeout=2.0)
            if status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} not ready after {timeout}s:\n{child.log_tail()}")


def wait_log(child: Child, needle: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with contextlib.suppress(OSError):
            if needle in child.logfile.read_text(errors="replace"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name}: no {needle!r} after {timeout}s:\n{child.log_tail()}")


# ---------------------------------------------------------------- numbers


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]
