"""Pick the broker backend from the settings' URL."""

from __future__ import annotations

from live.broker import Broker, MemoryBroker
from live.redis_broker import RedisBroker


def broker_for(redis_url: str | None) -> Broker:
    """Redis pub/sub when a URL is given, else the in-process broker."""
    if redis_url:
        return RedisBroker(redis_url)
    return MemoryBroker()
