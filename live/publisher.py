"""Publishing committed frames: a live's broadcast events and users' private frames.

The one way a broadcast event enters the system: appended to an ``EventBatch`` in
a write transaction (``Publisher.transaction``) and published once that commits.
A process serving viewers (the hub) hands each of its frames to its own viewers
first (``here``), with no trip through the broker; other processes receive them
through the broker. A process that only publishes, such as ``livecart worker``,
needs no hub: a ``Publisher`` over a Redis client (``RedisOutlet``) is enough.

Guarantees: nothing is published for a transaction that rolled back; one
transaction's frames go out in log order; at most once — a failed publish is
logged, not raised (the change is committed: other processes refill broadcast
frames from the log, and a buyer who missed an order frame sees it with GET).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from common import keys
from live import roster
from live.frames import Frame
from live.log import EventBatch
from live.served import Sessions

logger = logging.getLogger("livecart.hub")

Here = Callable[[int, Frame], None]
"""Hands a committed broadcast frame of a live (live id, frame) to this process's viewers."""


class Outlet(Protocol):
    """Where messages are published: any ``live.broker.Broker``, or a
    ``live.redis_broker.RedisOutlet`` in a process that subscribes to nothing."""

    async def publish(self, channel: str, message: str) -> None: ...

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        """Publish (channel, message) pairs, in order."""
        ...


class Publisher:
    """Publishes through ``outlet`` what transactions on ``sessions`` commit, and private
    frames; ``here`` (the hub's) sees this process's broadcast frames first."""

    def __init__(self, outlet: Outlet, sessions: Sessions, here: Here | None = None) -> None:
        self.outlet = outlet
        self.sessions = sessions
        self.here = here

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventBatch]:
        """A write transaction whose appended events are published once it commits.

        State changes made through ``batch.session`` and the events appended to
        the batch commit together; nothing is published if the block raises.
        """
        async with self.sessions.write() as session:
            batch = EventBatch(session)
            yield batch
        for live_id, frame in batch.frames:
            await self._announce(live_id, frame)

    async def _announce(self, live_id: int, frame: Frame) -> None:
        if self.here is not None:
            self.here(live_id, frame)
        try:
            await self.outlet.publish(keys.live_channel(live_id), frame.text)
        except Exception as exc:  # committed already: other processes refill from the log
            logger.warning("publish of live %s seq %s failed: %r", live_id, frame.seq, exc)

    async def control(self, live_id: int, op: str, user_id: int) -> None:
        """Tell every process serving the live that its roster changed (a committed ban,
        unban or moderator change; ``live.roster``). A ban also closes the user's
        sockets on the live (4403) wherever they are, joining ones included."""
        message = roster.control_message(live_id, op, user_id)
        try:
            await self.outlet.publish(keys.live_channel(live_id), message)
        except Exception as exc:
            logger.warning("roster change of live %s not announced: %r", live_id, exc)

    async def send_private_many(self, frames: list[tuple[int, Frame]]) -> None:
        """``send_private`` for many (user id, frame) pairs in one round trip."""
        try:
            await self.outlet.publish_many([(keys.user_channel(u), f.text) for u, f in frames])
        except Exception as exc:
            logger.warning("%d private frames lost: %r", len(frames), exc)

    async def send_orders(self, frames: list[tuple[int, Frame]]) -> None:
        """Order frames: each to its buyer's sockets (``send_private``) and to the staff
        board's sockets in every process, in one round trip. At most once."""
        board = keys.fulfillment_channel()
        messages = [m for u, f in frames for m in ((keys.user_channel(u), f.text), (board, f.text))]
        try:
            await self.outlet.publish_many(messages)
        except Exception as exc:
            logger.warning("%d order frames lost: %r", len(frames), exc)

    async def send_private(self, user_id: int, frame: Frame) -> None:
        """Send a private frame (seq null) to every socket ``user_id`` has open, in any
        process (this one's too, through its subscription to the user's channel).

        At most once: a socket that is not connected at that moment misses it.
        """
        await self.send_private_many([(user_id, frame)])
