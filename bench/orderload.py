"""The flash-sale load generator: one request per connection, all fired at once.

    python -m bench.orderload SPEC.json RESULT.json

SPEC: ``{"port", "method", "path", "requests": [{"token", "key", "body"}], "timeout",
"rate"}`` (``key``/``body``/``token`` may be null; ``rate`` > 0 spreads the writes
evenly at that many per second instead of one burst). The generator opens one HTTP/1.1
keep-alive connection per request (in parallel, 200 at a time), then writes every
request in one tight loop and reads the answers. It runs on uvloop with raw
asyncio protocols (no HTTP client library), so it spends little CPU per request;
its own CPU time during the burst is reported so that can be checked.

RESULT: per request ``[send_s, recv_s, status, body_text]`` (times relative to
the first send) plus the generator's CPU seconds, connection set-up time and
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Callable
from typing import Any

OPEN_CONCURRENCY = 200


class OneShot(asyncio.Protocol):
    """One connection, one request, one answer (Content-Length framed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.received_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1")
        lines = head.split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buf) - (end + 4) < length:
            return
        if not self.done.done():
            self.received_at = time.perf_counter()
            status = int(lines[0].split(" ", 2)[1])
            self.done.set_result((status, bytes(self.buf[end + 4 : end + 4 + length])))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.received_at = time.perf_counter()
            self.done.set_exception(exc or ConnectionError("closed before the answer"))


def build(spec: dict[str, Any], item: dict[str, Any]) -> bytes:
    body = (item.get("body") or "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: 127.0.0.1:{spec['port']}"]
    if item.get("token"):
        lines.append(f"Authorization: Bearer {item['token']}")
    if item.get("key"):
        lines.append(f"Idempotency-Key: {item['key']}")
    if body:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def open_all(port: int, count: int) -> list[OneShot]:
    """``count`` connections, ``OPEN_CONCURRENCY`` opening at a time, 5 tries each."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def connect() -> OneShot:
        async with gate:
            for attempt in range(5):
                try:
                    _t, proto = await loop.create_connection(
                        lambda: OneShot(loop), "127.0.0.1", port
                    )
                    return proto
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    return await asyncio.gather(*(connect() for _ in range(count)))


async def fire(spec: dict[str, Any]) -> dict[str, Any]:
    payloads = [build(spec, item) for item in spec["requests"]]
    t_open = time.perf_counter()
    conns = await open_all(spec["port"], len(payloads))
    open_s = time.perf_counter() - t_open
    await asyncio.sleep(0.2)  # let the server finish accepting before the burst

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    sent_at = [0.0] * len(conns)
    rate = float(spec.get("rate") or 0)  # 0: all at once; else requests per second, evenly
    t0 = time.perf_counter()
    for i, (proto, payload) in enumerate(zip(conns, payloads, strict=True)):
        if rate:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
        assert proto.transport is not None
        proto.transport.write(payload)
        sent_at[i] = time.perf_counter()
    send_spread = time.perf_counter() - t0

    results: list[list[Any]] = []
    errors: list[str] = []
    timeout = float(spec.get("timeout", 120))
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(p.done for p in conns), return_exceptions=True), timeout
    )
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    for proto, sent, outcome in zip(conns, sent_at, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            errors.append(repr(outcome))
            results.append([sent - t0, proto.received_at - t0, 0, ""])
        else:
            status, body = outcome
            results.append([sent - t0, proto.received_at - t0, status,
                            body.decode(errors="replace")])  # fmt: skip
        if proto.transport is not None:
            proto.transport.close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {
        "results": results,
        "open_s": round(open_s, 3),
        "send_spread_s": round(send_spread, 4),
        "loadgen_cpu_s": round(cpu, 3),
        "errors": errors[:20],
        "error_count": len(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="the requests to send (JSON, see above)")
    parser.add_argument("result", help="where to write the answers (JSON)")
    args = parser.parse_args()
    spec_path, out_path = args.spec, args.result
    with open(spec_path) as f:
        spec = json.load(f)
    runner: Callable[..., Any]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    answer = runner(fire(spec))
    with open(out_path, "w") as f:
        json.dump(answer, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
