"""The fulfillment queue: orders leave the outbox and are accepted, each exactly once.

Two consumers, one behaviour (``states.accept``: ``placed → accepted`` and the
outbox entry marked done, in one transaction):

- ``LocalConsumer`` — no Redis: the web process reads the outbox table itself.
- ``StreamQueue`` — with Redis: a relay moves committed outbox rows onto a
  Redis Stream; ``livecart worker`` processes read it with a consumer group,
  XACK only after the acceptance commits, reclaim entries a dead worker left
  pending (XAUTOCLAIM after ``claim_idle_ms``) and move an entry that failed
  ``max_attempts`` times to the dead letters. If Redis loses the stream, the
  relay puts every unfinished outbox row back on it: the database is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import keys, orders, states
from checkout.models import DeadLetter, Order, OutboxEntry, utcnow
from checkout.ports import Transactions

log = logging.getLogger("livecart.fulfillment")


class UnknownOrder(Exception):
    """A queue entry names an order that does not exist."""


async def pending_order_ids(session: AsyncSession, limit: int) -> list[int]:
    rows = await session.exec(
        select(OutboxEntry.order_id)
        .where(col(OutboxEntry.done_at).is_(None))
        .order_by(col(OutboxEntry.id))
        .limit(limit)
    )
    return list(rows.all())


async def accept_existing(session: AsyncSession, order_ids: Sequence[int], uow: Any) -> list[int]:
    """``states.accept`` after checking every id names a real order (else ``UnknownOrder``)."""
    found = set((await session.exec(select(Order.id).where(col(Order.id).in_(order_ids)))).all())
    missing = [i for i in order_ids if i not in found]
    if missing:
        raise UnknownOrder(f"no orders with ids {missing}")
    return await states.accept(session, order_ids, uow.announcer)


class _Loop:
    """A background task that runs ``step`` until cancelled, sleeping ``idle_s`` when idle."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def poke(self) -> None:
        self._wake.set()

    async def _forever(self, step: Any, name: str) -> None:
        task = asyncio.current_task()
        while True:
            try:
                busy = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed: %r", name, exc)
                busy = False
            if task is not None and task.cancelling():
                # Stopped while a step ran, and something inside swallowed the
                # cancellation (seen with a database call): stop now, not never.
                raise asyncio.CancelledError
            if not busy:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns normally
                # when cancelled just as the event is set, and the loop would go on.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_s):
                        await self._wake.wait()

    def spawn(self, step: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(self._forever(step, name), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


HOUSEKEEPING_S = 600.0


def spawn_housekeeping(loop: _Loop, transactions: Transactions) -> None:
    """Every ten minutes: forget Idempotency-Keys past their 48 hours."""

    async def step() -> bool:
        await asyncio.sleep(HOUSEKEEPING_S)
        async with transactions() as uow:
            removed = await orders.prune_idempotency_keys(uow.session)
        if removed:
            log.info("forgot %d old Idempotency-Keys", removed)
        return True  # the sleep above paces it

    loop.spawn(step, "livecart-housekeeping")


class LocalConsumer(_Loop):
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


class StreamQueue(_Loop):
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
        self.redis = redis
        self.transactions = transactions
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.redeliver_after = timedelta(seconds=redeliver_after_s)
        self.stream = stream
        self.group = group

    # ---- producing

    async def push(self, order_ids: Sequence[int]) -> None:
        """Put orders on the stream (after their transaction committed)."""
        if not order_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for order_id in order_ids:
            pipe.xadd(self.stream, {"order_id": str(order_id)})
        await pipe.execute()

    async def relay_once(self) -> bool:
        """Move unfinished outbox rows that are not (recently) on the stream onto it."""
        if not await self.redis.exists(keys.ORDERS_EPOCH):
            await self._recover_lost_stream()
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

    # ---- consuming

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def consume_once(self) -> bool:
        try:
            answer = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self.batch,
                block=self.block_ms,
            )  # fmt: skip
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._recover_lost_stream()
            return True
        replies: Any = answer or []
        entries = [entry for _stream, items in replies for entry in items]
        await self._process(entries)
        return bool(entries)

    async def reclaim_once(self) -> bool:
        """Take over entries idle too long (a dead worker's); dead-letter the hopeless ones."""
        try:
            pending: list[dict[str, Any]] = await self.redis.xpending_range(
                self.stream, self.group, min="-", max="+", count=self.batch,
                idle=self.claim_idle_ms,
            )  # fmt: skip
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return False
        if not pending:
            return False
        hopeless = [p["message_id"] for p in pending if p["times_delivered"] >= self.max_attempts]
        retry = [p["message_id"] for p in pending if p["times_delivered"] < self.max_attempts]
        if hopeless:
            claimed = await self.redis.xclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, hopeless
            )
            tries = {p["message_id"]: int(p["times_delivered"]) for p in pending}
            await self._dead_letter(_entries(claimed), tries)
        if retry:
            claimed = await self.redis.xclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, retry
            )
            await self._process(_entries(claimed))
        return len(pending) == self.batch

    async def _process(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        parsed: list[tuple[Any, int]] = []
        for entry_id, fields in entries:
            raw = _text(fields.get(b"order_id", fields.get("order_id", "")))
            if raw.isascii() and raw.isdigit() and len(raw) < 10:
                parsed.append((entry_id, int(raw)))
            else:  # never acknowledged: retried, then dead-lettered
                log.warning("malformed queue entry %r: %r", entry_id, fields)
        if not parsed:
            return
        try:
            await self._accept([order_id for _e, order_id in parsed])
            await self.redis.xack(self.stream, self.group, *[e for e, _o in parsed])
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
            await self.redis.xack(self.stream, self.group, entry_id)

    async def _accept(self, order_ids: list[int]) -> None:
        async with self.transactions() as uow:
            await accept_existing(uow.session, order_ids, uow)

    async def _dead_letter(
        self, entries: list[tuple[Any, dict[Any, Any]]], attempts: dict[Any, int]
    ) -> None:
        async with self.transactions() as uow:
            for entry_id, fields in entries:
                decoded = {_text(k): _text(v) for k, v in fields.items()}
                order_id = decoded.get("order_id", "")
                known = order_id.isdigit() and len(order_id) < 10
                uow.session.add(DeadLetter(
                    order_id=int(order_id) if known else None,
                    entry=json.dumps({"id": _text(entry_id), "fields": decoded}),
                    error=f"failed {attempts.get(entry_id, self.max_attempts)} times",
                    attempts=attempts.get(entry_id, self.max_attempts), created_at=utcnow(),
                ))  # fmt: skip
                if known:  # stop the relay from putting it back
                    await uow.session.exec(
                        update(OutboxEntry).where(col(OutboxEntry.order_id) == int(order_id),
                                                  col(OutboxEntry.done_at).is_(None))
                        .values(done_at=utcnow())
                    )  # fmt: skip
        if entries:
            await self.redis.xack(self.stream, self.group, *[e for e, _f in entries])
            log.warning("moved %d queue entries to the dead letters", len(entries))

    async def _recover_lost_stream(self) -> None:
        """Redis started empty (first run, or restarted without persistence): recreate the
        group and put every unfinished order back on the stream. Duplicates are harmless:
        acceptance is idempotent."""
        log.warning("fulfillment stream new or lost; (re)creating it and re-relaying the outbox")
        await self.ensure_group()
        async with self.transactions() as uow:
            await uow.session.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.done_at).is_(None))
                .values(relayed_at=None)
            )
        await self.redis.set(keys.ORDERS_EPOCH, self.consumer)
        self.poke()

    async def unmark(self, order_ids: Sequence[int]) -> None:
        """These orders did not reach the stream after all: let the relay take them."""
        async with self.transactions() as uow:
            await uow.session.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.order_id).in_(list(order_ids)),
                       col(OutboxEntry.done_at).is_(None))
                .values(relayed_at=None)
            )  # fmt: skip
        self.poke()

    # ---- running

    async def start(self, *, relay: bool = True, consume: bool = True) -> None:
        """Start the loops. Redis may be down now: they retry until it answers."""
        try:
            await self.ensure_group()
        except (RedisError, OSError) as exc:
            log.warning("fulfillment stream not ready yet (%r); will retry", exc)
        if relay:
            self.spawn(self.relay_once, "livecart-relay")
            spawn_housekeeping(self, self.transactions)
        if consume:
            self.spawn(self.consume_once, "livecart-consume")
            self.spawn(self.reclaim_once, "livecart-reclaim")


def _entries(claimed: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """XCLAIM's answer as (id, fields) pairs, skipping entries deleted meanwhile (no fields)."""
    return [(entry_id, fields) for entry_id, fields in claimed if fields is not None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
