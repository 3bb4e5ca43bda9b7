"""Brokers carry committed frames between processes and count viewers across them.

A broker is a small async interface with two implementations chosen by URL:
``MemoryBroker`` (one process, no Redis) and ``RedisBroker`` (pub/sub across
processes and machines). Guarantees, for both:

- at most once: a message published while a subscriber is disconnected is
  lost *for that subscriber*; the hub refills such gaps from the database log;
- per-channel order as published by one process;
- no backpressure and no persistence: the broker never blocks a publisher on a
  slow subscriber and keeps nothing.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from common.limits import MAX_SLOW_MODE_S
from live.presence import LocalPresence
from live.ratelimit import LocalLimits

COOLDOWN_MAX_S = MAX_SLOW_MODE_S  # the longest slow-mode interval a live can set

MessageHandler = Callable[[str, str], None]
"""Called with (channel, message) on the event loop for every received message."""

ReconnectHandler = Callable[[], None]
"""Called after the broker lost its connection and got it back (messages may be missing)."""


class Broker(ABC):
    def __init__(self) -> None:
        self.on_message: MessageHandler = lambda _channel, _message: None
        self.on_reconnect: ReconnectHandler = lambda: None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once by the hub before anything else."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect and stop background tasks."""

    @abstractmethod
    async def publish(self, channel: str, message: str) -> None: ...

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        """Publish (channel, message) pairs, in order (backends may batch them)."""
        for channel, message in messages:
            await self.publish(channel, message)

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def report_presence(self, local: dict[int, LocalPresence]) -> dict[int, int]:
        """Record this process's watchers per live; return the totals over all processes.

        ``local`` holds every live this process has viewers of (and those it just
        lost, empty). The answer covers the same lives. A total counts each account
        once over all processes, plus every anonymous socket.
        """

    @abstractmethod
    async def presence_totals(self, live_ids: Iterable[int]) -> dict[int, int]:
        """Current viewer totals over all processes for ``live_ids``."""

    @abstractmethod
    async def is_watching(self, live_id: int, user_id: int) -> bool:
        """Whether the account watches the live from any process, as of the processes'
        last presence reports (a socket opened since the last tick is not seen yet)."""

    @abstractmethod
    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """One token from the bucket ``key``, shared by all processes.

        0.0 when allowed, else the seconds until a token is available.
        """

    @abstractmethod
    async def cooldown(self, key: str, seconds: float) -> float:
        """Slow mode: 0.0 and remember now, unless the last time for ``key`` was less than
        ``seconds`` ago — then the seconds left. ``seconds`` is read at each call, so a
        changed interval applies at once. Remembered for at most ``COOLDOWN_MAX_S``."""

    @abstractmethod
    async def count(self, key: str, window_s: float) -> tuple[int, float]:
        """Count one attempt under ``key``, shared by all processes: (attempts in the
        window, seconds left of it). The window starts at the key's first attempt."""

    @abstractmethod
    async def uncount(self, key: str, *, all_: bool = False) -> None:
        """Take back one counted attempt (``all_``: every one) under ``key``."""


class MemoryBroker(Broker):
    """In-process broker: messages go straight back to this process's hub."""

    def __init__(self) -> None:
        super().__init__()
        self._channels: set[str] = set()
        self._presence: dict[int, int] = {}  # live id → total
        self._watchers: dict[int, frozenset[int]] = {}  # live id → accounts
        self._limits = LocalLimits(COOLDOWN_MAX_S)

    async def publish(self, channel: str, message: str) -> None:
        if channel in self._channels:
            # call_soon, not a direct call: delivery never runs inside the publisher's frame.
            asyncio.get_running_loop().call_soon(self.on_message, channel, message)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def report_presence(self, local: dict[int, LocalPresence]) -> dict[int, int]:
        for live_id, here in local.items():
            if here.empty:
                self._presence.pop(live_id, None)
                self._watchers.pop(live_id, None)
            else:
                self._presence[live_id] = here.count
                self._watchers[live_id] = here.users
        return {live_id: here.count for live_id, here in local.items()}

    async def is_watching(self, live_id: int, user_id: int) -> bool:
        return user_id in self._watchers.get(live_id, ())

    async def presence_totals(self, live_ids: Iterable[int]) -> dict[int, int]:
        return {live_id: self._presence.get(live_id, 0) for live_id in live_ids}

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        return self._limits.take_token(key, rate, burst)

    async def cooldown(self, key: str, seconds: float) -> float:
        return self._limits.cooldown(key, seconds)

    async def count(self, key: str, window_s: float) -> tuple[int, float]:
        return self._limits.count(key, window_s)

    async def uncount(self, key: str, *, all_: bool = False) -> None:
        self._limits.uncount(key, all_=all_)
