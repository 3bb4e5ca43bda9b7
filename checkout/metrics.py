"""Checkout's Prometheus metrics: orders by outcome, and the fulfillment backlog.

``ORDERS`` is counted by the order desk (``checkout.desk``) as each batch is
decided, one ``inc(n)`` per outcome per batch. Its ``outcome`` label is
``placed``, ``replayed`` (an Idempotency-Key seen before: the earlier order
answered again), the refusal's error code as the API answers it
(``insufficient_stock``, ``deal_limit_exceeded``, ``payment_declined``,
``idempotency_mismatch``, ``not_found``, ``invalid_state``, ``unknown_live``)
or ``error`` (the batch failed: the request got a 5xx).

The backlog is not counted as it moves but read when ``/metrics`` is scraped
(``outbox_backlog``, ``stream_backlog``): it is shared by every process, and the
database (and the Redis Stream) already hold the truth.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import CheckoutError
from checkout.models import OutboxEntry
from checkout.orders import Placement
from common.times import utc, utcnow

OUTCOMES = (
    "placed",
    "replayed",
    "insufficient_stock",
    "deal_limit_exceeded",
    "payment_declined",
    "idempotency_mismatch",
    "not_found",
    "invalid_state",
    "unknown_live",
    "error",
)
"""The ``outcome`` labels (each starts at 0, so ``rate()`` sees the first one)."""

ORDERS = Counter("livecart_orders", "order requests decided, by outcome", ["outcome"])
for _outcome in OUTCOMES:
    ORDERS.labels(_outcome)


def outcome_label(outcome: Placement | BaseException) -> str:
    if isinstance(outcome, Placement):
        return "replayed" if outcome.replayed else "placed"
    if isinstance(outcome, CheckoutError):
        return outcome.code
    return "error"


def count_orders(outcomes: Iterable[Placement | BaseException], failed: int = 0) -> None:
    """Count a batch: its decided ``outcomes`` and ``failed`` requests left undecided."""
    tally = Tally(outcome_label(o) for o in outcomes)
    if failed:
        tally["error"] += failed
    for label, n in tally.items():
        ORDERS.labels(label).inc(n)


@dataclass(frozen=True)
class Backlog:
    """Entries waiting, and the age in seconds of the oldest (0 when none wait)."""

    depth: int
    oldest_s: float


EMPTY = Backlog(0, 0.0)


async def outbox_backlog(session: AsyncSession, now: datetime | None = None) -> Backlog:
    """Orders placed and not yet accepted: their outbox rows not done (with or without
    Redis, this is every order still on its way through fulfillment)."""
    row = (
        await session.exec(
            select(func.count(), func.min(OutboxEntry.created_at)).where(
                col(OutboxEntry.done_at).is_(None)
            )
        )
    ).one()
    depth, oldest = int(row[0]), row[1]
    if not depth or oldest is None:
        return EMPTY
    return Backlog(depth, max(0.0, ((now or utcnow()) - utc(oldest)).total_seconds()))


LAG_COUNT_CAP = 10_000
"""Without the group's ``lag`` (Redis before 7) undelivered entries are counted up to this."""


async def stream_backlog(
    redis: Redis, stream: str, group: str, now_s: float | None = None
) -> dict[str, Backlog]:
    """The consumer group's backlog on the stream, by state: ``undelivered`` (on the
    stream, read by no worker yet) and ``pending`` (read by a worker, not acknowledged).

    Ages come from the entry ids (the Redis server's clock, in ms, when the entry was
    added). A missing stream or group counts as empty: the relay creates them.
    """
    now_ms = (time.time() if now_s is None else now_s) * 1000
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    except ResponseError:  # no such key
        return {"undelivered": EMPTY, "pending": EMPTY}
    info = next((g for g in groups if _text(g.get("name")) == group), None)
    if info is None:
        return {"undelivered": EMPTY, "pending": EMPTY}
    last = _text(info.get("last-delivered-id", "0-0"))
    # The oldest undelivered entry is the first after the group's last-delivered id.
    later = await _ids_after(redis, stream, last, 2)
    lag = info.get("lag")
    if not later:
        undelivered = EMPTY
    else:
        if lag is None:  # Redis < 7, or a lag Redis cannot tell: count them (capped)
            lag = len(await _ids_after(redis, stream, last, LAG_COUNT_CAP + 1))
        undelivered = Backlog(max(int(lag), 1), _age_s(later[0], now_ms))
    pending = EMPTY
    if int(info.get("pending") or 0):
        summary: dict[str, Any] = await redis.xpending(stream, group)
        count = int(summary.get("pending") or 0)
        if count and summary.get("min") is not None:
            pending = Backlog(count, _age_s(summary["min"], now_ms))
    return {"undelivered": undelivered, "pending": pending}


async def _ids_after(redis: Redis, stream: str, last: str, count: int) -> list[str]:
    """Ids of up to ``count - 1`` entries after ``last`` (the range includes ``last``;
    exclusive ranges need Redis 6.2)."""
    found: list[Any] = await redis.xrange(stream, min=last, max="+", count=count) or []
    return [_text(entry_id) for entry_id, _fields in found if _text(entry_id) != last]


def _age_s(entry_id: Any, now_ms: float) -> float:
    millis = int(_text(entry_id).partition("-")[0])
    return max(0.0, (now_ms - millis) / 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
