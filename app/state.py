"""The resources one running app owns, created and closed by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.admission import Admission
from app.db import Database
from app.revocation import Revocations
from app.settings import Settings
from app.throttle import Throttle
from app.tokens import TokenSigner
from app.users import UserCache
from checkout.desk import OrderDesk
from checkout.ports import PaymentProvider
from checkout.queue import LocalConsumer, StreamQueue
from live.clock import DealClock
from live.hub import Hub


@dataclass
class AppState:
    settings: Settings
    db: Database
    tokens: TokenSigner
    hub: Hub
    deals: DealClock
    payments: PaymentProvider
    desk: OrderDesk
    admission: Admission
    throttle: Throttle
    revocations: Revocations
    redis: Redis | None = None
    # Exactly one of these: the Redis stream (web processes only push to it) or,
    # without Redis, the in-process consumer.
    queue: StreamQueue | None = None
    local_consumer: LocalConsumer | None = None
    users: UserCache = field(default_factory=UserCache)
