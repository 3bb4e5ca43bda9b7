"""The fulfillment queue: orders leave the outbox and are accepted, each exactly once.

Two consumers, one behaviour (``states.accept``: ``placed → accepted`` and the
outbox entry marked done, in one transaction):

- ``LocalConsumer`` — no Redis: the web process reads the outbox table itself.
- ``StreamQueue`` — with Redis: a relay (``checkout/relay.py``) moves committed
  outbox rows onto a Redis Stream; ``livecart worker`` processes read it with a
  consumer group (``checkout/consumer.py``), XACK only after the acceptance
  commits, take over entries a dead worker left pending (XPENDING for entries idle
  over ``claim_idle_ms``, then XCLAIM) and move an entry delivered ``max_attempts``
  times to the dead letters. If Redis loses the stream, the relay puts every
  unfinished outbox row back on it: the database is the truth.

Both also forget old Idempotency-Keys (``checkout/housekeeping.py``), and both stop
within a bounded time (``checkout/loops.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import states
from checkout.consumer import StreamConsumer
from checkout.housekeeping import spawn_housekeeping
from checkout.loops import Loops
from checkout.models import OutboxEntry
from checkout.ports import Transactions
from checkout.relay import Relay
from checkout.stream import Stream
from common import keys

log = logging.getLogger("livecart.fulfillment")


async def pending_order_ids(session: AsyncSession, limit: int) -> list[int]:
    rows = await session.exec(
        select(OutboxEntry.order_id)
        .where(col(OutboxEntry.done_at).is_(None))
        .order_by(col(OutboxEntry.id))
        .limit(limit)
    )
    return list(rows.all())


class LocalConsumer(Loops):
    """In-process consumer for the one-process default (no Redis)."""

    def __init__(self, transactions: Transactions, *, batch: int = 500, poll_s: float = 1.0):
        super().__init__(poll_s)
        self.transactions = transactions
        self.batch = batch

    async def start(self) -> None:
        self.spawn(self.run_once, "livecart-local-fulfillment")
        spawn_housekeeping(self, self.transactions)

    async def run_once(self) -> bool:
        """Accept one batch; True when there may be more waiting."""
        async with self.transactions() as uow:
            ids = await pending_order_ids(uow.session, self.batch)
            await states.accept(uow.session, ids, uow.announcer)
        return len(ids) == self.batch


class StreamQueue(Loops):
    """The Redis Stream queue: relay (outbox → stream) and consumer (stream → accepted)."""

    def __init__(
        self,
        redis: Redis,
        transactions: Transactions,
        *,
        consumer: str,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_attempts: int = 5,
        redeliver_after_s: float = 60.0,
        relay_poll_s: float = 0.2,
        stream: str = keys.ORDERS_STREAM,
        group: str = keys.ORDERS_GROUP,
    ) -> None:
        super().__init__(relay_poll_s)
        self.redis, self.stream, self.group = redis, stream, group
        self.transactions = transactions
        self.consumer = consumer
        orders = Stream(redis, stream, group)
        self.relay = Relay(
            orders, transactions, epoch_owner=consumer, batch=batch,
            redeliver_after=timedelta(seconds=redeliver_after_s), wake=self.poke,
        )  # fmt: skip
        self.reader = StreamConsumer(
            orders, transactions, consumer=consumer, batch=batch, block_ms=block_ms,
            claim_idle_ms=claim_idle_ms, max_attempts=max_attempts,
            recover=self.relay.recover_lost_stream,
        )  # fmt: skip

    async def push(self, order_ids: Sequence[int]) -> None:
        """Put orders on the stream (after their transaction committed)."""
        await self.relay.push(order_ids)

    async def unmark(self, order_ids: Sequence[int]) -> None:
        """These orders did not reach the stream after all: let the relay take them."""
        await self.relay.unmark(order_ids)

    async def start(self, *, relay: bool = True, consume: bool = True) -> None:
        """Start the loops. Redis may be down now: they retry until it answers."""
        try:
            await self.reader.stream.ensure_group()
        except (RedisError, OSError) as exc:
            log.warning("fulfillment stream not ready yet (%r); will retry", exc)
        if relay:
            self.spawn(self.relay.relay_once, "livecart-relay")
            spawn_housekeeping(self, self.transactions)
        if consume:
            self.spawn(self.reader.consume_once, "livecart-consume")
            self.spawn(self.reader.reclaim_once, "livecart-reclaim")
