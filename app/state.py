"""The resources one running app owns, created and closed by the lifespan."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.accounts import User
from app.db import Database
from app.settings import Settings
from app.tokens import TokenSigner
from checkout.ports import PaymentProvider
from checkout.queue import LocalConsumer, StreamQueue
from live.clock import DealClock
from live.hub import Hub


class UserCache:
    """Recently seen users by id, for a few seconds: a token names its user on every
    request, and a flash sale should not pay a database read for it each time.
    Accounts are never deleted and roles change only through the CLI, so a short
    staleness is harmless. Bounded: the oldest entries go first."""

    def __init__(self, ttl_s: float = 10.0, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[int, tuple[float, User]] = OrderedDict()

    def get(self, user_id: int) -> User | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User) -> None:
        if user.id is None:
            return
        self._entries[user.id] = (time.monotonic() + self.ttl_s, user)
        self._entries.move_to_end(user.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@dataclass
class AppState:
    settings: Settings
    db: Database
    tokens: TokenSigner
    hub: Hub
    deals: DealClock
    payments: PaymentProvider
    redis: Redis | None = None
    # Exactly one of these: the Redis stream (web processes only push to it) or,
    # without Redis, the in-process consumer.
    queue: StreamQueue | None = None
    local_consumer: LocalConsumer | None = None
    users: UserCache = field(default_factory=UserCache)
