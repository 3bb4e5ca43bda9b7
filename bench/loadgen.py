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
        target = self.warm if warm else self.viewers
        bar = Progress(label, n, self.progress)
        errors: dict[str, int] = {}
        examples: dict[str, str] = {}
        failed_after_ms: list[float] = []
        joined: list[Viewer] = []
        sem = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        last_launch = 0.0
        loop = asyncio.get_running_loop()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()

        async def attempt() -> None:
            nonlocal last_launch
            t0 = last_launch = time.monotonic()
            try:
                _, proto = await open_viewer(
                    host, port, path, timeout, None if warm else self.tally
                )
            except JoinError as exc:
                errors[exc.kind] = errors.get(exc.kind, 0) + 1
                cause = exc.__cause__ or exc
                examples.setdefault(exc.kind, (str(cause) or type(cause).__name__)[:160])
                failed_after_ms.append((time.monotonic() - t0) * 1000)
                bar.failed += 1
            else:
                target.append(proto)
                joined.append(proto)
                bar.done += 1

        async def one() -> None:
            if sem is None:
                await attempt()
            else:
                async with sem:
                    await attempt()

        lag_max = 0.0

        async def watch() -> None:
            # draws the bar; also the worst lag of this loop (a 10 ms sleep that overslept)
            nonlocal lag_max
            next_draw = 0.0
            while True:
                t = loop.time()
                await asyncio.sleep(0.01)
                lag_max = max(lag_max, loop.time() - t - 0.01)
                if t >= next_draw:
                    bar.draw()
                    next_draw = t + 0.25

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.gather(*(one() for _ in range(n)))
        finally:
            watcher.cancel()
            bar.draw(final=True)
            self.rusage = resource.getrusage(resource.RUSAGE_SELF)
        seconds = time.monotonic() - started
        usage = self.rusage
        return {
            "connected": bar.done,
            "failed": bar.failed,
            "errors": errors,  # failure class -> viewers
            "error_examples": examples,  # failure class -> the first one's message
            "seconds": round(seconds, 3),  # first connect started -> last viewer joined/failed
            "join_ms": [v.join_ms() for v in joined],
            "tcp_ms": [v.tcp_ms() for v in joined],
            "failed_after_ms": [round(x, 1) for x in failed_after_ms],
            "client": {
                "concurrency": concurrency if concurrency > 0 else None,
                # how long it took this process to start the last connect
                "last_connect_started_ms": round((last_launch - started) * 1000, 1),
                "cpu_s": round(
                    usage.ru_utime - usage0.ru_utime + usage.ru_stime - usage0.ru_stime, 3
                ),
                "max_loop_lag_ms": round(lag_max * 1000, 1),
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
