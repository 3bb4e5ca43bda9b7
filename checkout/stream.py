"""The fulfillment stream itself: its consumer group, and reading its entries.

Entries are ``{"order_id": "<decimal>"}``; ``order_id_of`` is the one place that
reads an order id back out of an entry, for acceptance and for the dead letters alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from common import keys

Entry = tuple[Any, dict[Any, Any]]  # (entry id, fields) as redis-py returns them


@dataclass(frozen=True)
class Stream:
    """A Redis Stream of orders and the consumer group the workers share."""

    redis: Redis
    name: str = keys.ORDERS_STREAM
    group: str = keys.ORDERS_GROUP

    async def ensure_group(self) -> None:
        """Create the group (and the stream) unless it exists."""
        try:
            await self.redis.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def ack(self, entry_ids: list[Any]) -> None:
        if entry_ids:
            await self.redis.xack(self.name, self.group, *entry_ids)


def is_lost_group(exc: ResponseError) -> bool:
    """Redis answered NOGROUP: the stream or its group is gone (Redis restarted empty)."""
    return "NOGROUP" in str(exc)


def order_id_of(fields: dict[Any, Any]) -> int | None:
    """The order id an entry names, or None when it names none (malformed entry).
    At most nine digits: the same bound for every caller, so a huge number is
    malformed rather than an overflow in the database."""
    raw = text(fields.get(b"order_id", fields.get("order_id", "")))
    if raw.isascii() and raw.isdigit() and len(raw) < 10:
        return int(raw)
    return None


def claimed_entries(claimed: Any) -> list[Entry]:
    """XCLAIM's answer as (id, fields) pairs, skipping entries deleted meanwhile (no fields)."""
    return [(entry_id, fields) for entry_id, fields in claimed if fields is not None]


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
