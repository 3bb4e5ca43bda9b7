"""What every benchmark in ``bench/`` shares: child processes, /proc readings, scratch
databases, HTTP, the one percentile, and running variants under a time limit.

Child processes (servers, workers, load generators) each get their own process group,
so stopping one stops everything it forked (uvicorn's ``--workers`` children included)
and nothing else. Children run with the repository root on ``PYTHONPATH``, so they
start bench modules as ``python -m bench.<name>`` from any working directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"  # git-ignored
SECRET_KEY = "bench-secret-key-not-for-production"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
# All load comes from this one machine's address: lift the per-address caps (a
# deployment keeps them; docs/operations.md).
ONE_LOAD_ADDRESS = {
    "LIVECART_MAX_SOCKETS_PER_ADDRESS": "0",
    "LIVECART_MAX_CONNECTIONS_PER_ADDRESS": "0",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Server ports come from below Linux's ephemeral range (32768-60999), which the
# benchmarks' thousands of client sockets draw their local ports from: a port bind(0)
# handed out could be taken by one of them before the server binds it. The tests use
# 10000-30999 (tests/services.py); benchmarks start at a random point of their own block.
_PORTS = range(31_000, 32_700)
_next_port = itertools.count(random.randrange(len(_PORTS)))


def free_port() -> int:
    for _ in _PORTS:
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 31000-32699")


def livecart_exe() -> str:
    exe = Path(sys.executable).parent / "livecart"
    return str(exe) if exe.exists() else (shutil.which("livecart") or "livecart")


def module_cmd(module: str, *args: str) -> list[str]:
    """``python -m bench.<module> args``: how every bench helper process is started."""
    return [sys.executable, "-m", f"bench.{module}", *args]


def base_env(source: Path | None = None, **extra: str | None) -> dict[str, str]:
    """The environment for children: no inherited DATABASE_URL/REDIS_URL/PORT/LIVECART_ENV;
    ``source`` (another livecart tree) first on ``PYTHONPATH``, then the caller's
    ``PYTHONPATH``, then this repository (for ``bench``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "PORT", "LIVECART_ENV"}
    }
    paths = [str(source)] if source is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")]), str(ROOT)])
    env["SECRET_KEY"] = SECRET_KEY
    env["PYTHONUNBUFFERED"] = "1"
    # Benchmarks take no money, and all their buyers sign up from this one address.
    env["LIVECART_PAYMENTS"] = "test"
    env["LIVECART_REGISTRATIONS_PER_ADDRESS"] = "0"
    env["LIVECART_LOGIN_FAILURES_PER_ADDRESS"] = "0"
    env.update({key: value for key, value in extra.items() if value is not None})
    return env


# ---------------------------------------------------------------- processes


class Child:
    """A child process in its own session/process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path,
                 logfile: Path, cpu: int | None = None) -> None:  # fmt: skip
        self.name = name
        self.cmd = cmd
        self.logfile = logfile
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=pin,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

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


def start_profilers(
    targets: list[Child], kids: list[Child], workdir: Path, label: str, *, subprocesses: bool
) -> list[tuple[Child, Path]]:
    """py-spy (``pip install py-spy``) on each target, from now until ``stop_profilers``;
    the spies join ``kids``, so they are stopped whatever happens."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spies = []
    for child in targets:
        out = workdir / f"profile-{label}-{child.name}.txt"
        cmd = [spy, "record", "--pid", str(child.pid), "--rate", "250", "--format", "raw",
               "--output", str(out), "--nonblocking"]  # fmt: skip
        if subprocesses:
            cmd.append("--subprocesses")
        spy_child = Child(f"py-spy-{child.name}", cmd, env=base_env(), cwd=workdir,
                          logfile=workdir / f"py-spy-{child.name}.log")  # fmt: skip
        kids.append(spy_child)
        spies.append((spy_child, out))
    time.sleep(1.0)  # py-spy attaches
    return spies


def stop_profilers(spies: list[tuple[Child, Path]]) -> list[str]:
    """Stop the spies (py-spy writes its profile on SIGINT); the profiles' paths."""
    for spy_child, _out in spies:
        spy_child.stop(timeout=30)
    return [str(out) for _child, out in spies]


def _stat_fields(pid: int | str) -> tuple[str, list[str]]:
    """(command name, the fields after it) of /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    return raw[raw.index("(") + 1 : raw.rindex(")")], raw.rsplit(")", 1)[1].split()


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (a server and its workers)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if int(_stat_fields(entry)[1][2]) == pgid:  # field 5 of stat: pgrp
                pids.append(int(entry))
    return pids or [pgid]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (clock-tick resolution, usually 10 ms)."""
    fields = _stat_fields(pid)[1]
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def group_cpu(pgid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the live processes in a process group."""
    user = system = 0.0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            u, s = cpu_seconds(pid)
            user, system = user + u, system + s
    return user, system


def group_cpu_seconds(pgid: int) -> float:
    return sum(group_cpu(pgid))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def group_rss_kb(pgid: int) -> int:
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError, RuntimeError):
            total += rss_kb(pid)
    return total


def cpu_by_command(names: tuple[str, ...] = ("postgres", "redis-server")) -> dict[str, float]:
    """User+system CPU seconds of the live processes whose command name is in ``names``.

    PostgreSQL backends are forked per connection; the benchmark's pools keep
    theirs open, so a before/after difference counts the work they did.
    """
    totals = dict.fromkeys(names, 0.0)
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            comm, _fields = _stat_fields(entry)
            if comm in totals:
                totals[comm] += sum(cpu_seconds(int(entry)))
    return totals


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Machine CPU use between two ``machine_ticks()`` (100 = every core busy)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return round(100 * busy / total, 1) if total else 0.0


def busy_seconds(before: tuple[int, int], after: tuple[int, int]) -> float:
    """CPU seconds the whole machine used between two ``machine_ticks()``."""
    return (after[0] - before[0]) / os.sysconf("SC_CLK_TCK")


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- services


def pg_url(base: str, dbname: str, driver: str = "postgresql") -> str:
    """``postgresql://user@host:port/`` + ``dbname`` (optionally another driver prefix)."""
    url = base.rstrip("/") + "/" + dbname
    if driver != "postgresql":
        url = url.replace("postgresql://", f"{driver}://", 1)
    return url


async def reset_database(base: str, dbname: str, *, create: bool = True) -> None:
    """Drop ``dbname`` (its connections terminated), then create it afresh unless not
    ``create``."""
    conn = await asyncpg.connect(pg_url(base, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        if create:
            await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    try:
        client.flushdb()
    finally:
        client.close()


def clean_up(pg: str, databases: Iterable[str], redis_url: str | None) -> None:
    """Drop the scratch databases and flush Redis; a failure is logged, not raised."""
    for name in databases:
        try:
            asyncio.run(reset_database(pg, name, create=False))
        except Exception as exc:
            log(f"  dropping {name} failed: {exc!r}")
    if redis_url is not None:
        try:
            flush_redis(redis_url)
        except Exception as exc:
            log(f"  flushing redis failed: {exc!r}")


async def service_versions(pg_base: str, redis_url: str) -> dict[str, str]:
    found: dict[str, str] = {}
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(pg_url(pg_base, "postgres"))
        try:
            found["postgresql"] = str(await conn.fetchval("SHOW server_version"))
            found["pg_max_connections"] = str(await conn.fetchval("SHOW max_connections"))
        finally:
            await conn.close()
    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        try:
            found["redis"] = str(client.info("server")["redis_version"])
        finally:
            client.close()
    return found


def machine() -> dict[str, Any]:
    """The machine, the code (git commit) and the versions a result was measured with."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    os_name = platform.platform()
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
                os_name = f"{pretty} (kernel {platform.release()})"
    packages = {}
    for mod in ("uvicorn", "websockets", "starlette", "uvloop", "sqlalchemy"):
        with contextlib.suppress(Exception):
            packages[mod] = __import__(mod).__version__
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
        "os": os_name,
        "packages": packages,
        "open_file_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
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


def wait_ready(
    port: int, child: Child, path: str | None = "/readyz", *, started: int = 0,
    timeout: float = 60.0,
) -> None:  # fmt: skip
    """Poll until ``child`` answers ``path`` with 200 (``None``: accepts a TCP connection)
    and its log says "Application startup complete" ``started`` times (one per worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with contextlib.suppress(OSError):
            if path is None:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return
            status, _ = http_json(port, "GET", path, timeout=2.0)
            if status == 200 and child.log_text().count("startup complete") >= started:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} not ready after {timeout}s:\n{child.log_tail()}")


def wait_log(child: Child, needle: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        if needle in child.log_text():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name}: no {needle!r} after {timeout}s:\n{child.log_tail()}")


# ---------------------------------------------------------------- numbers and runs


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100): the smallest value with at
    least ``p`` % of the values at or below it, so p99 of 100 values is the 99th
    smallest and p100 the largest. Raises ValueError for no values."""
    ordered = sorted(values)
    if not ordered or not 0 < p <= 100:
        raise ValueError(f"percentile {p} of {len(ordered)} values")
    rank = math.ceil(p * len(ordered) / 100 - 1e-9)  # the epsilon absorbs float noise
    return ordered[max(rank, 1) - 1]


def summary(values: Iterable[float | None], ps: Iterable[float] = (50, 99)) -> dict[str, Any]:
    """``p50``/``p99`` (or the ``ps`` asked for), ``max`` and ``mean`` of ``values``,
    rounded to 0.01; None entries are ignored, and every figure is None when none is left."""
    xs = sorted(x for x in values if x is not None)
    out: dict[str, Any] = {f"p{p:g}": round(percentile(xs, p), 2) if xs else None for p in ps}
    out["max"] = round(xs[-1], 2) if xs else None
    out["mean"] = round(sum(xs) / len(xs), 2) if xs else None
    return out


def run_variants(
    variants: Iterable[str], run: Callable[[str], dict[str, Any]], limit_s: int
) -> list[dict[str, Any]]:
    """``run(variant)`` for each variant in turn, each stopped by SIGALRM after ``limit_s``;
    a failure becomes ``{"variant", "error"}`` and the next variant runs."""

    def overtime(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"variant took over {limit_s} s")

    results: list[dict[str, Any]] = []
    for variant in variants:
        started = time.monotonic()
        signal.signal(signal.SIGALRM, overtime)
        signal.alarm(limit_s)
        try:
            result = run(variant)
        except Exception as exc:
            log(f"  {variant} failed: {exc!r}")
            result = {"variant": variant, "error": repr(exc)}
        finally:
            signal.alarm(0)
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        results.append(result)
        log(json.dumps({k: v for k, v in result.items() if k != "timeline"}, default=str)[:1500])
    return results


def write_json(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
