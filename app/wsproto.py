"""uvicorn's sans-I/O WebSocket protocol, plus a way to write pre-encoded frames directly.

Through plain ASGI every frame to every viewer costs an ``await send(...)``
round through the server. The hub instead encodes a broadcast frame once, as
WebSocket bytes, and writes those bytes straight to each connection's
transport: no per-viewer task switch, no per-viewer encoding. This module
exposes that write path to the app as the ``livecart.direct`` scope extension.

Used by ``livecart serve``. Under any other ASGI server (or plain
``uvicorn app.main:app``) the extension is absent and the hub falls back to a
bounded queue drained with ordinary ``send`` calls: same guarantees, slower.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from app.connections import OPEN

EXTENSION = "livecart.direct"
# Bytes allowed to wait in a connection's write buffer before the viewer counts as
# not reading and is evicted (its kernel socket buffer is already full by then).
DEFAULT_HIGH_WATER = 512 * 1024


class DirectWriter:
    """Writes whole, pre-encoded server frames to one connection without awaiting."""

    __slots__ = ("_proto", "high_water")  # one per connection: keep it small

    def __init__(self, proto: WebSocketsSansIOProtocol, high_water: int) -> None:
        self._proto = proto
        self.high_water = high_water

    def write(self, data: bytes) -> None:
        """Write ``data`` whatever is buffered (the caller holds the peer to ``high_water``);
        a closed peer is a no-op."""
        proto = self._proto
        if not (proto.close_sent or proto.disconnected or proto.transport.is_closing()):
            proto.transport.write(data)

    def buffered(self) -> int:
        """Bytes written but not yet handed to the kernel."""
        return self._proto.transport.get_write_buffer_size()


# Per-socket INFO lines ("[accepted]", "connection open") go here rather than to
# uvicorn.error: they are access-log lines, and follow LIVECART_ACCESS_LOG (two lines per
# viewer are 20,000 lines at a big show's start). Errors still reach the log.
CONNECTION_LOG = logging.getLogger("livecart.ws.connections")


def log_connections(on: bool) -> None:
    CONNECTION_LOG.setLevel(logging.NOTSET if on else logging.WARNING)


class LeanQueue:
    """What uvicorn's protocol uses of ``asyncio.Queue``: put_nowait, get, empty."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class LeanEvent:
    """What the protocol uses of ``asyncio.Event`` for ``writable``: set, clear, wait."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return True


class LivecartWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O protocol, lighter per idle connection (memory per viewer, measured
    in docs/benchmarks.md): small queue and event in place of ``asyncio``'s (mostly empty
    deque blocks), and the handshake's request and response dropped once accepted."""

    high_water = DEFAULT_HIGH_WATER
    # The peer address counted in ``app.connections.OPEN`` by the HTTP protocol that
    # handed this connection over on upgrade (app/httpproto.py); released when lost.
    counted_address: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = CONNECTION_LOG
        self.conn.logger = CONNECTION_LOG
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.counted_address is not None:
                OPEN.leave(self.counted_address)
                self.counted_address = None

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: dict[str, Any] | None = getattr(self, "scope", None)
        # Pre-encoded frames are only valid without extensions (no per-message deflate).
        if scope is not None and not self.conn.extensions:
            scope["extensions"][EXTENSION] = DirectWriter(self, self.high_water)
