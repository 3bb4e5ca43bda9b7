"""The two ways a viewer socket's frames are written: straight to the transport
(``DirectSink``, livecart's own WebSocket protocol) or through a bounded queue drained
with ASGI sends (``live.sinks.QueuedSink``, under any other server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from starlette.websockets import WebSocket

from app.wsproto import EXTENSION, DirectWriter
from live.frames import Frame
from live.sinks import QueuedSink


class DirectSink:
    """Writes pre-encoded frames straight to the transport (see ``app.wsproto``)."""

    def __init__(self, writer: DirectWriter, websocket: WebSocket) -> None:
        self._writer = writer
        self._websocket = websocket
        self._close_task: asyncio.Task[None] | None = None
        # Backlog bytes (snapshot, replay) still buffered: not held against the viewer.
        self._grace = 0

    def offer(self, frame: Frame, *, backlog: bool = False) -> bool:
        if self._close_task is not None:
            return True
        if backlog:
            self._writer.write(frame.wire)
            self._grace = self._writer.buffered()
            return True
        return self._write(frame.wire)

    def offer_all(self, frames: Sequence[Frame], wire: bytes) -> bool:
        return True if self._close_task is not None else self._write(wire)

    def _write(self, wire: bytes) -> bool:
        buffered = self._writer.buffered()
        self._grace = min(self._grace, buffered)  # shrinks as the backlog drains
        if buffered - self._grace > self._writer.high_water:
            return False  # behind by more than the allowance, besides its backlog
        self._writer.write(wire)
        return True

    def close(self, code: int, reason: str = "") -> None:
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self._websocket.close(code, reason)

    async def aclose(self) -> None:
        if self._close_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._close_task


def sink_for(websocket: WebSocket) -> DirectSink | QueuedSink:
    writer = websocket.scope.get("extensions", {}).get(EXTENSION)
    if isinstance(writer, DirectWriter):
        return DirectSink(writer, websocket)
    return QueuedSink(websocket.send_text, websocket.close)


async def discard(sink: DirectSink | QueuedSink) -> None:
    """Stop the sink (a queued one has a writer task), whatever state it is in."""
    with contextlib.suppress(Exception):
        await sink.aclose()
