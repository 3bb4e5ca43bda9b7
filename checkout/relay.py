"""The relay: committed outbox rows onto the Redis Stream, and back after Redis lost it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from checkout.models import OutboxEntry
from checkout.ports import Transactions
from checkout.stream import Stream
from common import keys
from common.times import utcnow

log = logging.getLogger("livecart.fulfillment")


class Relay:
    """Moves orders from the outbox (the truth) to the stream (the delivery).

    At least once: a row is marked relayed in a transaction that commits before the
    entry is added, and one marked longer than ``redeliver_after`` ago without being
    done is sent again. Duplicates are harmless: acceptance is idempotent.
    """

    def __init__(
        self,
        stream: Stream,
        transactions: Transactions,
        *,
        epoch_owner: str,
        batch: int,
        redeliver_after: timedelta,
        wake: Callable[[], None],
    ) -> None:
        self.stream = stream
        self.transactions = transactions
        self.epoch_owner = epoch_owner
        self.batch = batch
        self.redeliver_after = redeliver_after
        self.wake = wake

    async def push(self, order_ids: Sequence[int]) -> None:
        """Put orders on the stream (after their transaction committed)."""
        if not order_ids:
            return
        pipe = self.stream.redis.pipeline(transaction=False)
        for order_id in order_ids:
            pipe.xadd(self.stream.name, {"order_id": str(order_id)})
        await pipe.execute()

    async def relay_once(self) -> bool:
        """Move unfinished outbox rows that are not (recently) on the stream onto it."""
        if not await self.stream.redis.exists(keys.ORDERS_EPOCH):
            await self.recover_lost_stream()
        now = utcnow()
        async with self.transactions() as uow:
            due = (
                select(OutboxEntry.id)
                .where(
                    col(OutboxEntry.done_at).is_(None),
                    (col(OutboxEntry.relayed_at).is_(None))
                    | (col(OutboxEntry.relayed_at) < now - self.redeliver_after),
                )
                .order_by(col(OutboxEntry.id))
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            rows = await uow.session.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.id).in_(due.scalar_subquery()))
                .values(relayed_at=now)
                .returning(col(OutboxEntry.order_id))
            )
            order_ids = [row[0] for row in rows.all()]
        # Committed first: a crash here leaves rows marked relayed, resent after
        # ``redeliver_after``; a duplicate entry is harmless (acceptance is idempotent).
        await self.push(order_ids)
        return len(order_ids) == self.batch

    async def recover_lost_stream(self) -> None:
        """Redis started empty (first run, or restarted without persistence): recreate the
        group and put every unfinished order back on the stream. Duplicates are harmless:
        acceptance is idempotent."""
        log.warning("fulfillment stream new or lost; (re)creating it and re-relaying the outbox")
        await self.stream.ensure_group()
        async with self.transactions() as uow:
            await uow.session.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.done_at).is_(None))
                .values(relayed_at=None)
            )
        await self.stream.redis.set(keys.ORDERS_EPOCH, self.epoch_owner)
        self.wake()

    async def unmark(self, order_ids: Sequence[int]) -> None:
        """These orders did not reach the stream after all: let the relay take them."""
        async with self.transactions() as uow:
            await uow.session.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.order_id).in_(list(order_ids)),
                       col(OutboxEntry.done_at).is_(None))
                .values(relayed_at=None)
            )  # fmt: skip
        self.wake()
