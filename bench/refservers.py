"""The fan-out benchmark's reference servers, measured in the same run as livecart.

    python -m bench.refservers broadcast --port 8765 [--loop uvloop|asyncio] [--backlog 2048]
    python -m bench.refservers naive --port 8766
    python -m bench.refservers floor --port 8767

Any path but ``/control`` is a viewer: it is sent a small snapshot-like frame. A text
message ``pin`` on ``/control`` builds one frame shaped like livecart's ``pinned``
frame (``ts`` = now in ms), sends it to every viewer and answers ``ok <viewers>``.

- ``broadcast``, reference (a): the ``websockets`` library and its ``broadcast()``,
  no compression, uvloop by default (as under uvicorn, which livecart runs on, so the
  comparison is between fan-out code paths rather than event loops), listening with
  uvicorn's default backlog (``bench.fanout`` passes uvicorn's actual default) so a
  connect storm meets the same accept queue; otherwise ``websockets``' defaults (a
  10 s ``open_timeout`` for the opening handshake).
- ``naive``, reference (b): Starlette under uvicorn with its default WebSocket
  implementation (``--ws auto``: websockets-sansio) and per-message deflate off;
  ``for ws in viewers: await ws.send_text(frame)``.
- ``floor``, the calibration floor (not a compared server): a hand-written handshake,
  one ``asyncio.Protocol`` per connection and nothing else; the frame is encoded once
  and ``transport.write`` called for every viewer. It shows what the load generator
  can measure at best on this machine.

Frames: ``bench.fanout`` creates, on the livecart variants, a creator ``benchcreator``
(id 1), the product ``PRODUCT`` (id 1) and a live (id 1); livecart's ``pinned`` frame
for it is then exactly what ``pinned_frame()`` builds, byte for byte except the ``ts``
digits (same count).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import struct
import time
from typing import Any

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.server import ServerConnection, broadcast, serve

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

CREATOR = {"username": "benchcreator", "password": "bench-password-1", "role": "creator"}
PRODUCT = {
    "title": "Bench mug",
    "price_cents": 1999,
    "stock": 1000,
    "image_url": "/static/mug.jpg",
    "url": "https://example.com/mug",
}
CARD = {  # livecart's product card, in its key order
    "id": 1,
    "title": PRODUCT["title"],
    "price_cents": PRODUCT["price_cents"],
    "currency": "USD",
    "image_url": PRODUCT["image_url"],
    "url": PRODUCT["url"],
    "stock": PRODUCT["stock"],
}
LIVE_ID = 1


def envelope(type_: str, seq: int | None, data: dict[str, Any]) -> str:
    ts = time.time_ns() // 1_000_000
    return _dumps({"type": type_, "live_id": LIVE_ID, "seq": seq, "ts": ts, "data": data})


def pinned_frame() -> str:
    """livecart's ``pinned`` event for the bench product (seq 2: after ``live_started``)."""
    by = {"id": 1, "username": CREATOR["username"]}
    return envelope("pinned", 2, {"product": CARD, "deal": None, "by": by})


def snapshot_frame(viewers: int) -> str:
    at = "2026-01-01T00:00:00.000000Z"
    live = {"id": LIVE_ID, "creator_id": 1, "title": "bench", "status": "live",
            "stream_url": None, "pinned": None, "viewers": viewers, "created_at": at,
            "started_at": at, "ended_at": None}  # fmt: skip
    data = {"live": live, "pinned": None, "viewers": viewers, "recent_chat": [], "seq": 1}
    return envelope("snapshot", None, data)


# ---------------------------------------------------------------- (a) websockets broadcast()


async def serve_broadcast(host: str, port: int, backlog: int) -> None:
    viewers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for message in ws:
                if message == "pin":
                    broadcast(viewers, pinned_frame())
                    await ws.send(f"ok {len(viewers)}")
            return
        viewers.add(ws)
        try:
            await ws.send(snapshot_frame(len(viewers)))
            async for _ in ws:  # viewers do not talk; keep reading until they close
                pass
        finally:
            viewers.discard(ws)

    async with serve(handler, host, port, compression=None, backlog=backlog) as server:
        # SIGINT/SIGTERM: close the viewers and return (no KeyboardInterrupt traceback).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        await server.wait_closed()


# ---------------------------------------------------------------- (b) naive Starlette loop

naive_viewers: set[WebSocket] = set()


async def naive_viewer(ws: WebSocket) -> None:
    await ws.accept()
    naive_viewers.add(ws)
    try:
        await ws.send_text(snapshot_frame(len(naive_viewers)))
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        naive_viewers.discard(ws)


async def naive_control(ws: WebSocket) -> None:
    await ws.accept()
    while (message := await ws.receive())["type"] != "websocket.disconnect":
        if message.get("text") == "pin":
            frame = pinned_frame()
            for v in list(naive_viewers):
                try:
                    await v.send_text(frame)
                except Exception:
                    naive_viewers.discard(v)
            await ws.send_text(f"ok {len(naive_viewers)}")


naive_app = Starlette(
    routes=[WebSocketRoute("/control", naive_control), WebSocketRoute("/{path:path}", naive_viewer)]
)


# ---------------------------------------------------------------- the calibration floor

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
floor_viewers: set[asyncio.Transport] = set()


def server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


class FloorConn(asyncio.Protocol):
    __slots__ = ("buf", "control", "open", "transport")

    def __init__(self) -> None:
        self.buf = b""
        self.open = False
        self.control = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _handshake(self, head: str) -> None:
        assert self.transport is not None
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.open = True
        self.control = head.split(" ", 2)[1] == "/control"
        if not self.control:
            floor_viewers.add(self.transport)
            self.transport.write(server_frame(0x1, snapshot_frame(len(floor_viewers)).encode()))

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buf = self.buf + data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self._handshake(buf[:end].decode("latin-1"))
            buf = buf[end + 4 :]
        while len(buf) >= 6:  # client frames: masked, small
            length = buf[1] & 0x7F
            if length >= 126 or len(buf) < 6 + length:
                break
            mask, payload = buf[2:6], buf[6 : 6 + length]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode, buf = buf[0] & 0x0F, buf[6 + length :]
            if opcode == 0x8:
                floor_viewers.discard(self.transport)
                self.transport.write(server_frame(0x8, payload[:2]))
                self.transport.close()
                return
            if opcode == 0x9:
                self.transport.write(server_frame(0xA, payload))
            elif opcode == 0x1 and self.control and payload == b"pin":
                wire = server_frame(0x1, pinned_frame().encode())
                for t in floor_viewers:
                    t.write(wire)
                self.transport.write(server_frame(0x1, f"ok {len(floor_viewers)}".encode()))
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        floor_viewers.discard(self.transport)  # type: ignore[arg-type]


async def serve_floor(host: str, port: int, backlog: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await loop.create_server(FloorConn, host, port, backlog=backlog):
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["broadcast", "naive", "floor"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--backlog", type=int, default=2048, help="listen backlog")
    args = parser.parse_args(argv)
    if args.server == "naive":
        uvicorn.run(naive_app, host=args.host, port=args.port, ws="auto",
                    ws_per_message_deflate=False)  # fmt: skip
        return 0
    serve_one = serve_broadcast if args.server == "broadcast" else serve_floor
    runner = uvloop.run if args.loop == "uvloop" else asyncio.run
    runner(serve_one(args.host, args.port, args.backlog))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
