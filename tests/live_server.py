"""Real servers for socket tests: uvicorn in this event loop, or `livecart serve` processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app.factory import create_app
from app.server import uvicorn_options
from app.settings import Settings
from app.state import AppState
from tests.services import free_port, wait_for_port


class _Server(uvicorn.Server):
    """uvicorn.Server that sets an event once it listens (no polling for readiness)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class Listening:
    """Addresses of a server listening on 127.0.0.1:``port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, live_id: int | str, **query: Any) -> str:
        """The live's socket URL; ``query`` items that are None are left out."""
        qs = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
        return f"ws://127.0.0.1:{self.port}/ws/lives/{live_id}" + (f"?{qs}" if qs else "")


class LiveServer(Listening):
    """A livecart app served by uvicorn on a free port, inside the test's event loop."""

    def __init__(self, app: Starlette, port: int) -> None:
        self.app = app
        self.port = port

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.livecart
        return state


@contextlib.asynccontextmanager
async def serve(settings: Settings, **overrides: Any) -> AsyncIterator[LiveServer]:
    """Run the app under uvicorn with livecart's own server options (``overrides`` win)."""
    app = create_app(settings)
    port = free_port()
    options = {**uvicorn_options(settings), **overrides}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    ready = asyncio.create_task(server.ready.wait())
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # startup failed: raise its error
        raise RuntimeError("server exited during startup")
    try:
        yield LiveServer(app, port)
    finally:
        server.should_exit = True
        await task


class ServerProcess(Listening):
    """`livecart serve` in a child process (for multi-process and restart tests)."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int | None = None) -> None:
        self.env = env
        self.cwd = cwd
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
            cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None


@contextlib.contextmanager
def spawned(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    *,
    stderr: Path | None = None,
    stop_signal: int = signal.SIGINT,
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m *args`` in a child process, yielded once ``port`` listens. On the way
    out it gets ``stop_signal`` and 30 s to end, then is killed. Its stderr goes to the
    file ``stderr`` (or nowhere)."""
    with open(stderr or os.devnull, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        wait_for_port(port, timeout=60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def uvicorn_args(port: int) -> list[str]:
    """``uvicorn app.main:app --port P``: plain uvicorn, no other flag."""
    return ["uvicorn", "app.main:app", "--port", str(port)]


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for `livecart serve` matching ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        LIVECART_PRESENCE_INTERVAL_S=str(settings.presence_interval_s),
    )
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


@contextlib.contextmanager
def processes(settings: Settings, cwd: Path, count: int = 2) -> Iterator[list[ServerProcess]]:
    procs = [ServerProcess(process_env(settings), cwd) for _ in range(count)]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def with_redis(settings: Settings, redis_url: str) -> Settings:
    return replace(settings, redis_url=redis_url)
