"""Where a viewer's frames go: a non-blocking ``offer`` that never waits for the network.

The hub hands every frame to a viewer's sink with ``offer``. A sink must not
block and must not raise: it accepts the frame or answers ``False`` when the
viewer has fallen too far behind, and the hub then evicts that viewer (close
code 4408) so it can never delay anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from live.frames import Frame

log = logging.getLogger("livecart.hub")


class Sink(Protocol):
    def offer(self, frame: Frame, *, backlog: bool = False) -> bool:
        """Queue ``frame`` for sending; ``False`` means the viewer's buffer is full.

        ``backlog`` frames (a snapshot, a replay, ``resumed``) bring a joining viewer
        up to date: they are always accepted and do not count against the limit, so
        a resume of a thousand missed events is never cut short.
        """
        ...

    def offer_all(self, frames: Sequence[Frame], wire: bytes) -> bool:
        """``offer`` for several frames in order, as one write where the sink can
        (``wire`` is their WebSocket bytes joined); ``False`` as for ``offer``."""
        ...

    def close(self, code: int, reason: str = "") -> None:
        """Close the connection with ``code`` after anything already queued is dropped."""
        ...


SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]


class QueuedSink:
    """A bounded queue of frames drained by one writer task per connection.

    Works with any ASGI server: the writer awaits the server's ``send``. At most
    ``max_frames`` live frames wait (besides any backlog); one more and ``offer``
    answers ``False``.
    """

    def __init__(self, send: SendText, close: CloseSocket, *, max_frames: int = 256) -> None:
        self._send = send
        self._close = close
        self._max = max_frames
        self._queue: deque[Frame] = deque()
        self._backlog = 0  # backlog frames at the head of the queue
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self._task = asyncio.create_task(self._run(), name="livecart-sink")

    def offer(self, frame: Frame, *, backlog: bool = False) -> bool:
        if self._closing is not None:
            return True  # already going away: nothing more to say to it
        if backlog:
            self._backlog += 1
        elif len(self._queue) - self._backlog >= self._max:
            return False
        self._queue.append(frame)
        self._wake.set()
        return True

    def offer_all(self, frames: Sequence[Frame], wire: bytes) -> bool:
        return all(self.offer(frame) for frame in frames)  # one ASGI send each, whatever

    def close(self, code: int, reason: str = "") -> None:
        if self._closing is None:
            self._closing = (code, reason)
            self._queue.clear()
            self._backlog = 0
            self._wake.set()

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue and self._closing is None:
                    frame = self._queue.popleft()
                    if self._backlog:
                        self._backlog -= 1
                    await self._send(frame.text)
                if self._closing is not None:
                    await self._close(*self._closing)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: nothing left to do
            log.debug("sink writer stopped: %r", exc)

    async def aclose(self) -> None:
        """Stop the writer task (the connection is gone)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
