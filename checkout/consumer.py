"""The stream consumer: read, accept, acknowledge; reclaim a dead worker's entries; dead
letters for the hopeless ones.

An entry is acknowledged (XACK) only after its acceptance committed, so a worker that
dies holding entries leaves them pending in the group. ``reclaim_once`` finds entries
idle longer than ``claim_idle_ms`` with XPENDING and takes them over with XCLAIM; one
delivered ``max_attempts`` times goes to the dead letters instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import RedisError, ResponseError
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import states
from checkout.models import DeadLetter, Order, OutboxEntry
from checkout.ports import Transactions
from checkout.stream import Entry, Stream, claimed_entries, is_lost_group, order_id_of, text
from common.times import utcnow

log = logging.getLogger("livecart.fulfillment")


class UnknownOrder(Exception):
    """A queue entry names an order that does not exist."""


async def accept_existing(session: AsyncSession, order_ids: Sequence[int], uow: Any) -> list[int]:
    """``states.accept`` after checking every id names a real order (else ``UnknownOrder``)."""
    found = set((await session.exec(select(Order.id).where(col(Order.id).in_(order_ids)))).all())
    missing = [i for i in order_ids if i not in found]
    if missing:
        raise UnknownOrder(f"no orders with ids {missing}")
    return await states.accept(session, order_ids, uow.announcer)


class StreamConsumer:
    """One named consumer of the group; ``recover`` re-creates a lost stream."""

    def __init__(
        self,
        stream: Stream,
        transactions: Transactions,
        *,
        consumer: str,
        batch: int,
        block_ms: int,
        claim_idle_ms: int,
        max_attempts: int,
        recover: Callable[[], Awaitable[None]],
    ) -> None:
        self.stream = stream
        self.transactions = transactions
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.recover = recover

    async def consume_once(self) -> bool:
        s = self.stream
        try:
            answer = await s.redis.xreadgroup(
                s.group, self.consumer, {s.name: ">"}, count=self.batch, block=self.block_ms
            )
        except ResponseError as exc:
            if not is_lost_group(exc):
                raise
            await self.recover()
            return True
        replies: Any = answer or []
        entries = [entry for _stream, items in replies for entry in items]
        await self.process(entries)
        return bool(entries)

    async def reclaim_once(self) -> bool:
        """Take over entries idle too long (a dead worker's); dead-letter the hopeless ones."""
        s = self.stream
        try:
            pending: list[dict[str, Any]] = await s.redis.xpending_range(
                s.name, s.group, min="-", max="+", count=self.batch, idle=self.claim_idle_ms
            )
        except ResponseError as exc:
            if not is_lost_group(exc):
                raise
            return False
        if not pending:
            return False
        tries = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        hopeless = [i for i, n in tries.items() if n >= self.max_attempts]
        retry = [i for i, n in tries.items() if n < self.max_attempts]
        if hopeless:
            await self._dead_letter(await self._claim(hopeless), tries)
        if retry:
            await self.process(await self._claim(retry))
        return len(pending) == self.batch

    async def _claim(self, entry_ids: list[Any]) -> list[Entry]:
        s, idle = self.stream, self.claim_idle_ms
        claimed = await s.redis.xclaim(s.name, s.group, self.consumer, idle, entry_ids)
        return claimed_entries(claimed)

    async def process(self, entries: list[Entry]) -> None:
        """Accept the orders ``entries`` name and acknowledge them: as one batch, else one by
        one. An entry not acknowledged stays pending and is retried, then dead-lettered."""
        parsed: list[tuple[Any, int]] = []
        for entry_id, fields in entries:
            order_id = order_id_of(fields)
            if order_id is None:
                log.warning("malformed queue entry %r: %r", entry_id, fields)
            else:
                parsed.append((entry_id, order_id))
        if not parsed:
            return
        try:
            await self._accept([order_id for _e, order_id in parsed])
            await self.stream.ack([e for e, _o in parsed])
            return
        except (RedisError, OSError):
            raise
        except Exception as exc:
            log.warning("batch of %d failed (%r); retrying one by one", len(parsed), exc)
        for entry_id, order_id in parsed:
            try:
                await self._accept([order_id])
            except Exception as exc:  # stays pending: retried after claim_idle_ms
                log.warning("queue entry %r (order %s) failed: %r", entry_id, order_id, exc)
                continue
            await self.stream.ack([entry_id])

    async def _accept(self, order_ids: list[int]) -> None:
        async with self.transactions() as uow:
            await accept_existing(uow.session, order_ids, uow)

    async def _dead_letter(self, entries: list[Entry], attempts: dict[Any, int]) -> None:
        async with self.transactions() as uow:
            for entry_id, fields in entries:
                order_id = order_id_of(fields)
                tries = attempts.get(entry_id, self.max_attempts)
                uow.session.add(DeadLetter(
                    order_id=order_id,
                    entry=json.dumps({"id": text(entry_id),
                                      "fields": {text(k): text(v) for k, v in fields.items()}}),
                    error=f"failed {tries} times", attempts=tries, created_at=utcnow(),
                ))  # fmt: skip
                if order_id is not None:  # stop the relay from putting it back
                    await uow.session.exec(
                        update(OutboxEntry).where(col(OutboxEntry.order_id) == order_id,
                                                  col(OutboxEntry.done_at).is_(None))
                        .values(done_at=utcnow())
                    )  # fmt: skip
        if entries:
            await self.stream.ack([e for e, _f in entries])
            log.warning("moved %d queue entries to the dead letters", len(entries))
