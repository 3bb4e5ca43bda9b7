"""The fan-out load generator: one process holding every viewer, driven over a pipe.

``LoadGen`` (in the orchestrator) starts the process (``run_loadgen``) and sends it
commands; between commands its event loop keeps running, so pings are answered and
frames timestamped. The viewers are ``bench.wsclient.Viewer`` connections.

``connect`` with ``concurrency`` 0 (or below) is a *storm*: every connect is
started at once, with no in-flight cap. Since one client process then does a
lot of work at once, it reports its own cost as well: CPU seconds and the
worst event-loop lag while connecting, and how long it took to start the
last connect.

The load generator runs in its own process (``run_loadgen``) and takes
commands over a ``multiprocessing`` pipe, while its event loop keeps running
(pings are answered, frames are timestamped) between commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.benchkit import raise_fd_limit
from bench.wsclient import JoinError, Tally, Viewer, open_viewer


class Progress:
    """A one-line text progress bar on stderr (no dependencies)."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and total > 1
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.drawn = 0.0

    def draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.tty and not final and now - self.drawn < 2.0:
            return  # not a terminal (a log file): a line every 2 s, no carriage returns
        self.drawn = now
        width = 30
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = (
            f"\r  {self.label:<28} [{bar}] {self.done:>6,}/{self.total:,} "
            f"{rate:7,.0f}/s  failed {self.failed}  {elapsed:5.1f}s"
        )
        if not self.tty:
            line = line[1:] + "\n"
        elif final:
            line += "\n"
        sys.stderr.write(line)
        sys.stderr.flush()


@dataclass
class Joins:
    """What one ``connect`` command's viewers came to, so far."""

    bar: Progress
    target: list[Viewer]  # where joined viewers are kept (warm-up or measured)
    new: list[Viewer] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    failed_after_ms: list[float] = field(default_factory=list)
    last_launch: float = 0.0

    def joined(self, viewer: Viewer) -> None:
        self.target.append(viewer)
        self.new.append(viewer)
        self.bar.done += 1

    def failed(self, exc: JoinError, started: float) -> None:
        self.errors[exc.kind] = self.errors.get(exc.kind, 0) + 1
        cause = exc.__cause__ or exc
        self.examples.setdefault(exc.kind, (str(cause) or type(cause).__name__)[:160])
        self.failed_after_ms.append((time.monotonic() - started) * 1000)
        self.bar.failed += 1


class LagWatch:
    """While open: draws ``bar`` every 0.25 s and keeps this event loop's worst lag
    (how much a 10 ms sleep overslept)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LagWatch:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.bar.draw(final=True)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_draw = 0.0
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.max_lag = max(self.max_lag, loop.time() - t - 0.01)
            if t >= next_draw:
                self.bar.draw()
                next_draw = t + 0.25


class Generator:
    """Holds the viewers of one measurement; driven by commands from the orchestrator."""

    def __init__(self, progress: bool) -> None:
        self.viewers: list[Viewer] = []
        self.warm: list[Viewer] = []
        self.tally = Tally()
        self.progress = progress
        self.rusage = resource.getrusage(resource.RUSAGE_SELF)

    async def connect(
        self,
        host: str,
        port: int,
        path: str,
        n: int,
        concurrency: int,
        timeout: float,  # noqa: ASYNC109 (per viewer, passed on)
        label: str,
    ) -> dict[str, Any]:
        """Open ``n`` viewers; ``concurrency`` connects in flight, or all at once if <= 0.

        Returns counts, failures by class, per-viewer join and TCP-connect times (ms,
        successful viewers, unsorted) and this process's own cost while connecting.
        """
        warm = label == "warm-up"
        tally = None if warm else self.tally  # warm-up viewers wait for no pin
        bar = Progress(label, n, self.progress)
        joins = Joins(bar, self.warm if warm else self.viewers)
        sem = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()

        async def one() -> None:
            async with sem or contextlib.nullcontext():
                t0 = joins.last_launch = time.monotonic()
                try:
                    _, proto = await open_viewer(host, port, path, timeout, tally)
                except JoinError as exc:
                    joins.failed(exc, t0)
                else:
                    joins.joined(proto)

        try:
            async with LagWatch(bar) as watch:
                await asyncio.gather(*(one() for _ in range(n)))
        finally:
            self.rusage = resource.getrusage(resource.RUSAGE_SELF)
        seconds = time.monotonic() - started
        usage = self.rusage
        return {
            "connected": bar.done,
            "failed": bar.failed,
            "errors": joins.errors,  # failure class -> viewers
            "error_examples": joins.examples,  # failure class -> the first one's message
            "seconds": round(seconds, 3),  # first connect started -> last viewer joined/failed
            "join_ms": [v.join_ms() for v in joins.new],
            "tcp_ms": [v.tcp_ms() for v in joins.new],
            "failed_after_ms": [round(x, 1) for x in joins.failed_after_ms],
            "client": {
                "concurrency": concurrency if concurrency > 0 else None,
                # how long it took this process to start the last connect
                "last_connect_started_ms": round((joins.last_launch - started) * 1000, 1),
                "cpu_s": round(
                    usage.ru_utime - usage0.ru_utime + usage.ru_stime - usage0.ru_stime, 3
                ),
                "max_loop_lag_ms": round(watch.max_lag * 1000, 1),
            },
        }

    async def after_join(self) -> dict[str, Any]:
        """Measured viewers that joined and have gone since, by close code."""
        gone: dict[str, int] = {}
        for v in self.viewers:
            if v.lost.done():
                key = f"close {v.close_code}" if v.close_received else "eof"
                gone[key] = gone.get(key, 0) + 1
        return {"open": len(self.viewers) - sum(gone.values()), "gone": gone}

    async def arm(self) -> dict[str, Any]:
        """Forget the previous pin: the next ``pinned`` frame of each viewer is recorded."""
        for v in self.viewers + self.warm:
            v.pin_ns = 0
            v.pin_payload = b""
        self.tally.pins = 0
        self.tally.gone = sum(1 for v in self.viewers if v.lost.done())
        self.tally.target = 0
        self.tally.done = asyncio.Event()
        self.rusage = resource.getrusage(resource.RUSAGE_SELF)
        return {"armed": len(self.viewers)}

    async def collect(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until every open viewer has its ``pinned`` frame (or ``timeout``)."""
        started = time.monotonic()
        self.tally.target = len(self.viewers)
        self.tally.check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tally.done.wait(), timeout)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        got = [v for v in self.viewers if v.pin_ns]
        latencies = [v.pin_latency_ms() for v in got]
        first = min((v.pin_ns for v in got), default=0)
        last = max((v.pin_ns for v in got), default=0)
        return {
            "viewers": len(self.viewers),
            "received": len(got),
            "dropped_before_pin": sum(1 for v in self.viewers if v.lost.done() and not v.pin_ns),
            "latencies_ms": latencies,
            "frame_bytes": len(got[0].pin_payload) if got else 0,
            "first_recv_ns": first,
            "last_recv_ns": last,
            "pings_answered": sum(v.pings for v in self.viewers),
            # CPU of this process since the end of the connects or the last ``arm``
            "client_cpu_ms": {
                "user": round((usage.ru_utime - self.rusage.ru_utime) * 1000, 1),
                "sys": round((usage.ru_stime - self.rusage.ru_stime) * 1000, 1),
            },
            "wait_seconds": round(time.monotonic() - started, 3),
        }

    async def close(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Close every connection with a proper closing handshake."""
        started = time.monotonic()
        everyone = self.viewers + self.warm
        for v in everyone:
            v.close()
        pending = [v.lost for v in everyone if not v.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        aborted = 0
        for v in everyone:
            if not v.lost.done() and v.transport is not None:
                v.transport.abort()
                aborted += 1
        clean = sum(1 for v in everyone if v.close_received)
        self.viewers, self.warm = [], []
        self.tally = Tally()
        await asyncio.sleep(0)
        return {"clean": clean, "aborted": aborted, "seconds": round(time.monotonic() - started, 3)}


async def _serve_commands(conn: Any, progress: bool) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            commands.put_nowait(conn.recv())
        except EOFError:
            loop.remove_reader(conn.fileno())
            commands.put_nowait(("exit",))

    loop.add_reader(conn.fileno(), readable)
    gen = Generator(progress)
    while True:
        cmd, *args = await commands.get()
        if cmd == "exit":
            await gen.close(5.0)
            conn.send({"ok": True})
            return
        try:
            if cmd == "connect":
                result = await gen.connect(*args)
            elif cmd == "arm":
                result = await gen.arm()
            elif cmd == "after_join":
                result = await gen.after_join()
            elif cmd == "collect":
                result = await gen.collect(*args)
            elif cmd == "close":
                result = await gen.close(*args)
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except Exception as exc:  # report, keep serving
            result = {"error": repr(exc)}
        conn.send(result)


def run_loadgen(
    conn: Any, loop_kind: str = "uvloop", progress: bool = True, cpu: int | None = None
) -> None:
    """Entry point of the load generator process."""
    raise_fd_limit()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    loop: asyncio.AbstractEventLoop
    if loop_kind == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve_commands(conn, progress))
    finally:
        loop.close()


class LoadGen:
    """The load generator process (``run_loadgen``) and its command pipe."""

    def __init__(self, loop_kind: str, cpu: int | None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=run_loadgen, args=(child, loop_kind, True, cpu), name="loadgen"
        )
        self.proc.start()
        child.close()

    def call(self, *command: Any, timeout: float = 600) -> dict[str, Any]:
        self.conn.send(command)
        if not self.conn.poll(timeout):
            raise TimeoutError(f"load generator did not answer {command[0]!r} in {timeout}s")
        result: dict[str, Any] = self.conn.recv()
        if "error" in result:
            raise RuntimeError(f"load generator failed on {command[0]!r}: {result['error']}")
        return result

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.call("exit", timeout=15)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
