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

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

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

    def write(self, data: bytes, *, force: bool = False) -> bool:
        """Write ``data``; ``False`` when the peer is ``high_water`` bytes behind (never when
        ``force``). A closed peer is a no-op."""
        proto = self._proto
        if proto.close_sent or proto.disconnected or proto.transport.is_closing():
            return True
        if not force and proto.transport.get_write_buffer_size() > self.high_water:
            return False
        proto.transport.write(data)
        return True

    def buffered(self) -> int:
        """Bytes written but not yet handed to the kernel."""
        return self._proto.transport.get_write_buffer_size()


class LivecartWebSocketProtocol(WebSocketsSansIOProtocol):
    high_water = DEFAULT_HIGH_WATER

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: dict[str, Any] | None = getattr(self, "scope", None)
        # Pre-encoded frames are only valid without extensions (no per-message deflate).
        if scope is not None and not self.conn.extensions:
            scope["extensions"][EXTENSION] = DirectWriter(self, self.high_water)
