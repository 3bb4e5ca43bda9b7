"""The auction benchmark's clients, all in the benchmark process (uvloop): WebSocket
watchers and bidders (raw ``asyncio.Protocol``, frames walked by hand as in
``bench.wsclient``), a keep-alive HTTP/1.1 client for REST bids, and the bidders' loop.

Only a sample of the watchers keeps what it receives (receive time taken first in
``data_received``, payloads decoded after the run); the others walk the frames to
answer pings and drop them, so 10,000 watchers cost the client little more than the
kernel reads. A bidder's socket keeps its ``error`` and ``pong`` frames: it sends each
bid frame followed by a ``ping``, and since the server handles one socket's frames in
order, the ``pong`` marks the bid as answered — refused if an ``error`` came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from bench.benchkit import summary as kit_summary
from bench.wsclient import ACCEPT, OP_CLOSE, OP_PING, OP_PONG, client_frame, handshake_request
from live.auction_rules import increment

PING = client_frame(0x1, b'{"type":"ping"}')


class Sock(asyncio.Protocol):
    """One WebSocket client. ``keep``: record ``(recv_ns, payload)`` of every message."""

    def __init__(self, request: bytes, keep: bool = False) -> None:
        self.request = request
        self.keep = keep
        self.frames: list[tuple[int, bytes]] = []
        self.buf = b""
        self.open = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()  # the first message
        self.lost: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf + data if self.buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101") or ACCEPT not in buf[:end]:
                self._fail(ConnectionError(repr(buf[:60])))
                return
            self.open, buf = True, buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, length, head = buf[pos], buf[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                (length,), head = struct.unpack_from("!H", buf, pos + 2), 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,), head = struct.unpack_from("!Q", buf, pos + 2), 10
            end = pos + head + length
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self.message(buf[pos + head : end], now)
            elif opcode == OP_PING and self.transport is not None:
                self.transport.write(client_frame(OP_PONG, buf[pos + head : end]))
            elif opcode == OP_CLOSE:
                self._closed(buf[pos + head : end])
            pos = end
        self.buf = buf[pos:]

    def message(self, payload: bytes, now: int) -> None:
        if not self.ready.done():
            self.ready.set_result(None)
        if self.keep:
            self.frames.append((now, payload))

    def _closed(self, payload: bytes) -> None:
        if len(payload) >= 2:
            (self.close_code,) = struct.unpack_from("!H", payload)
        if self.transport is not None:
            self.transport.write(client_frame(OP_CLOSE, payload[:2]))

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the first frame"))
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, payload: dict[str, Any]) -> None:
        if self.transport is not None:
            self.transport.write(client_frame(0x1, json.dumps(payload).encode()) + PING)

    def close(self) -> None:
        if self.transport is not None and not self.lost.done():
            self.transport.write(client_frame(OP_CLOSE, struct.pack("!H", 1000)))


class BidderSock(Sock):
    """A bidder's socket: ``error`` frames and ``pong`` answers, nothing else kept."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.errors: list[dict[str, Any]] = []
        self.pong: asyncio.Future[int] | None = None

    def message(self, payload: bytes, now: int) -> None:
        super().message(payload, now)
        head = payload[:20]
        if head.startswith(b'{"type":"pong"'):
            if self.pong is not None and not self.pong.done():
                self.pong.set_result(now)
        elif head.startswith(b'{"type":"error"'):
            self.errors.append(json.loads(payload)["data"])


async def connect(port: int, path: str, proto: type[Sock], limit_s: float, **kw: Any) -> Sock:
    loop = asyncio.get_running_loop()
    request = handshake_request("127.0.0.1", port, path)
    transport, sock = await loop.create_connection(lambda: proto(request, **kw), "127.0.0.1", port)
    try:
        async with asyncio.timeout(limit_s):
            await sock.ready
    except BaseException:
        transport.abort()
        raise
    return sock


async def storm(port: int, paths: list[str], proto: type[Sock], keep: set[int],
                limit_s: float) -> tuple[list[Sock], dict[str, int], float]:  # fmt: skip
    """Connect every path at once; (sockets in path order, failures by kind, seconds)."""
    started = time.monotonic()

    async def one(i: int, path: str) -> Sock | str:
        kw = {"keep": True} if i in keep else {}
        try:
            return await connect(port, path, proto, limit_s, **kw)
        except Exception as exc:
            return type(exc).__name__

    got = await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
    failures: dict[str, int] = {}
    for g in got:
        if isinstance(g, str):
            failures[g] = failures.get(g, 0) + 1
    socks = [g for g in got if isinstance(g, Sock)]
    return socks, failures, round(time.monotonic() - started, 2)


class Http:
    """One keep-alive HTTP/1.1 connection (Content-Length framed answers)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, method: str, path: str, body: Any, token: str) -> tuple[int, Any]:
        if self.stream is None or self.stream[0].at_eof() or self.stream[1].is_closing():
            self.stream = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.stream
        raw = json.dumps(body).encode() if body is not None else b""
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(ln.split(":", 1)[1]) for ln in lines
                       if ln.lower().startswith("content-length:")), 0)  # fmt: skip
        data = await reader.readexactly(length)
        return int(lines[0].split(" ", 2)[1]), json.loads(data) if data else None

    def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()


@dataclass
class Market:
    """What the bidders know: the price as the first sampled watcher last saw it."""

    next_min: int
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Sent:
    bidder: int  # index
    amount: int
    max_cents: int
    sent_ns: int
    answered_ns: int = 0
    outcome: str = ""  # "accepted" or an error code; "" = no answer


def follow(watcher: Sock, market: Market) -> None:
    """Let the first sampled watcher keep ``market`` current as frames arrive."""
    plain = watcher.message

    def message(payload: bytes, now: int) -> None:
        plain(payload, now)
        if payload.startswith(b'{"type":"bid"'):
            market.next_min = max(market.next_min, json.loads(payload)["data"]["next_min_cents"])
        elif payload.startswith(b'{"type":"auction_ended"'):
            market.ended.set()

    watcher.message = message  # type: ignore[method-assign]


def next_bid(rng: random.Random, base: int, raise_steps: int) -> tuple[int, int]:
    """A bid at ``base`` plus 0..4 increments, its maximum 0..``raise_steps`` more."""
    amount = base + rng.randint(0, 4) * increment(base)
    return amount, amount + rng.randint(0, raise_steps) * increment(amount)


async def rest_bid(http: Http, path: str, body: dict[str, Any], token: str, sent: Sent) -> int:
    """One bid over REST; the next minimum the answer names."""
    status, answer = await http.call("POST", path, body, token)
    sent.answered_ns = time.time_ns()
    if status == 201:
        sent.outcome = "accepted"
        return int(answer["auction"]["next_min_cents"])
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    sent.outcome = error.get("code", str(status))
    return int(error.get("next_min_cents") or 0)


async def bidder(i: int, sock: BidderSock, http: Http | None, token: str, auction_id: int,
                 market: Market, bids: int, rng: random.Random) -> list[Sent]:  # fmt: skip
    """Bid ``bids`` times as fast as the answers come (socket frames, or REST with ``http``)."""
    floor, log = 0, list[Sent]()
    for _ in range(bids):
        if market.ended.is_set():
            break
        base = max(market.next_min, floor, (log[-1].amount + 1) if log else 0)
        amount, top = next_bid(rng, base, 6)
        body = {"amount_cents": amount, **({"max_cents": top} if top > amount else {})}
        sent = Sent(i, amount, top, time.time_ns())
        log.append(sent)
        if http is not None:
            floor = await rest_bid(http, f"/api/auctions/{auction_id}/bids", body, token, sent)
            continue
        errors = len(sock.errors)
        sock.pong = asyncio.get_running_loop().create_future()
        sock.send({"type": "bid", "auction_id": auction_id, **body})
        try:
            sent.answered_ns = await asyncio.wait_for(sock.pong, 30)
        except TimeoutError:
            continue
        if len(sock.errors) > errors:
            error = sock.errors[-1]
            sent.outcome, floor = error["code"], error.get("next_min_cents") or floor
        else:
            sent.outcome = "accepted"
    return log


async def ping_round(socks: list[BidderSock], rounds: int) -> dict[str, Any]:
    """The reference for bids/s: the same sockets send ``rounds`` pings each as fast as
    the pongs come, as the bids will (same frame path, no database). Round trips in ms
    and answers per second."""

    async def one(sock: BidderSock) -> list[tuple[int, int]]:
        times = []
        for _ in range(rounds):
            sock.pong = asyncio.get_running_loop().create_future()
            sent = time.time_ns()
            if sock.transport is not None:
                sock.transport.write(PING)
            with contextlib.suppress(TimeoutError):
                times.append((sent, await asyncio.wait_for(sock.pong, 30)))
        return times

    got = [t for one_sock in await asyncio.gather(*(one(s) for s in socks)) for t in one_sock]
    if not got:
        return {"answered": 0}
    span = (max(b for _, b in got) - min(a for a, _ in got)) / 1e9
    return {"answered": len(got), "answered_per_s": round(len(got) / max(span, 1e-9), 1),
            "rtt_ms": kit_summary([(b - a) / 1e6 for a, b in got])}  # fmt: skip


def decoded(watcher: Sock) -> list[tuple[int, dict[str, Any]]]:
    return [(t, json.loads(p)) for t, p in watcher.frames]
