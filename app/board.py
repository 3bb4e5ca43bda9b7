"""The staff board's sockets in one process, and the order frames every process sends
them over the broker's fulfillment channel (``/ws/fulfillment``: ``app.routes.board_ws``).

Guarantees: every order frame published while a socket is open reaches it once, in
order (at most once overall: a broker reconnect may lose some, and then every socket
gets a ``resync`` frame); a socket that stops reading cannot hold the others up — it is
dropped once ``BACKLOG`` frames wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket

from common import keys
from live import close_codes
from live.frames import Frame
from live.hub import Hub

log = logging.getLogger("livecart.board")
BACKLOG = 1000  # frames waiting for one socket before it is dropped as not reading


class BoardSocket:
    """One staff socket: frames queue here and a writer sends them in order."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(BACKLOG)
        self.dropped = False

    def offer(self, text: str) -> None:
        """Queue a frame without waiting; a socket this far behind is dropped (4408)."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped = True
            log.info("dropping a staff board socket that stopped reading")
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # room for the end marker
            self.queue.put_nowait(None)

    async def write(self) -> None:
        while (text := await self.queue.get()) is not None:
            await self.websocket.send_text(text)
        await self.websocket.close(close_codes.EVICTED, "not reading")


class StaffBoard:
    """The staff board's sockets of this process; order frames of every process, from the
    broker's fulfillment channel, go to each of them."""

    def __init__(self) -> None:
        self.sockets: set[BoardSocket] = set()

    async def start(self, hub: Hub) -> None:
        await hub.listen(keys.fulfillment_channel(), self._on_message, self._on_reconnect)

    def _on_message(self, text: str) -> None:
        for sock in list(self.sockets):
            sock.offer(text)

    def _on_reconnect(self) -> None:
        text = Frame.make("resync", None, {}).text
        for sock in list(self.sockets):
            sock.offer(text)
