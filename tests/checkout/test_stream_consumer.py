"""The Redis Stream consumer, relay and housekeeping in this process (checkout/consumer.py,
checkout/stream.py, checkout/relay.py, checkout/housekeeping.py), on a real Redis and a
real database (SQLite and PostgreSQL).

tests/multiprocess/test_worker.py runs the same behaviour in ``livecart worker``
processes; here each step is driven by hand (``consume_once``, ``reclaim_once``,
``relay_once``), so each outcome is checked right where it happens: XACK after the
commit, XPENDING + XCLAIM of another consumer's entries, dead letters after
``max_attempts`` deliveries, the stream and group recreated when Redis lost them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from sqlmodel import col, select

from app.accounts import Role, create_user
from app.commerce import Commerce, CommerceUnit
from app.db import Database
from checkout import housekeeping
from checkout.consumer import StreamConsumer
from checkout.loops import Loops
from checkout.models import (
    DeadLetter,
    IdempotencyRecord,
    Order,
    OrderEvent,
    OutboxEntry,
    Product,
)
from checkout.ports import Transactions
from checkout.queue import StreamQueue
from checkout.relay import Relay
from checkout.stream import Stream, claimed_entries, is_lost_group, order_id_of, text
from common import keys
from common.times import utcnow
from live.publisher import Publisher
from live.redis_broker import RedisOutlet, redis_client
from tests.services import RedisServer

STREAM, GROUP = keys.ORDERS_STREAM, keys.ORDERS_GROUP
MAX_ATTEMPTS = 3
WAIT_S = 10.0
_names = itertools.count(1)


class Boom(Exception):
    """Raised at the end of a transaction's work, so that it rolls back."""


@dataclass
class Rig:
    """A real database and Redis, the checkout ports over them, and the stream."""

    db: Database
    redis: Redis
    commerce: Commerce
    stream: Stream
    recovered: list[str] = field(default_factory=list)

    def consumer(
        self,
        name: str = "worker:a",
        *,
        transactions: Transactions | None = None,
        batch: int = 500,
        claim_idle_ms: int = 0,
        max_attempts: int = MAX_ATTEMPTS,
        recover: Callable[[], Awaitable[None]] | None = None,
    ) -> StreamConsumer:
        async def noted() -> None:
            self.recovered.append(name)

        return StreamConsumer(
            self.stream, transactions or self.commerce.transaction, consumer=name,
            batch=batch, block_ms=10, claim_idle_ms=claim_idle_ms,
            max_attempts=max_attempts, recover=recover or noted,
        )  # fmt: skip

    def failing(self) -> Transactions:
        """Real transactions whose commit never happens: the work is done, then rolled back."""

        @asynccontextmanager
        async def transaction() -> AsyncIterator[CommerceUnit]:
            async with self.commerce.transaction() as unit:
                yield unit
                raise Boom("rolled back")

        return transaction

    async def place(self, count: int) -> list[int]:
        """``count`` placed orders, each with its outbox entry (not yet relayed)."""
        async with self.db.write() as session:
            user = await create_user(session, f"buyer{next(_names)}", "password123", Role.VIEWER)
            product = Product(creator_id=user.id, title="Mug", price_cents=1000, stock=100)
            session.add(product)
            await session.flush()
            ids: list[int] = []
            for _ in range(count):
                order = Order(
                    buyer_id=user.id, product_id=product.id or 0, quantity=1,
                    unit_price_cents=1000, total_cents=1000, currency="USD", shipping="{}",
                )  # fmt: skip
                session.add(order)
                await session.flush()
                assert order.id is not None
                session.add(OutboxEntry(order_id=order.id))
                ids.append(order.id)
        return ids

    async def add(self, *entries: dict[str, str]) -> list[bytes]:
        return [await self.redis.xadd(STREAM, dict(fields)) for fields in entries]  # type: ignore[arg-type]

    async def add_orders(self, ids: list[int]) -> list[bytes]:
        return await self.add(*({"order_id": str(i)} for i in ids))

    async def state(self, ids: list[int]) -> list[tuple[str, list[tuple[str, str]], bool]]:
        """Per order: its status, its history lines (status, by), whether its outbox is done."""
        found = []
        async with self.db.read() as session:
            for order_id in ids:
                order = await session.get(Order, order_id, populate_existing=True)
                assert order is not None
                events = await session.exec(
                    select(OrderEvent).where(col(OrderEvent.order_id) == order_id)
                    .order_by(col(OrderEvent.id))
                )  # fmt: skip
                outbox = await session.exec(
                    select(OutboxEntry).where(col(OutboxEntry.order_id) == order_id)
                )
                done = outbox.one().done_at is not None
                found.append((order.status, [(e.status, e.by) for e in events.all()], done))
        return found

    async def pending(self) -> dict[str, tuple[str, int]]:
        """Pending entries of the group: id → (consumer, times delivered)."""
        rows = await self.redis.xpending_range(STREAM, GROUP, min="-", max="+", count=100)
        return {
            text(r["message_id"]): (text(r["consumer"]), int(r["times_delivered"])) for r in rows
        }

    async def dead_letters(self) -> list[DeadLetter]:
        async with self.db.read() as session:
            rows = await session.exec(select(DeadLetter).order_by(col(DeadLetter.id)))
            return list(rows.all())


ACCEPTED = ("accepted", [("accepted", "fulfillment")], True)
PLACED = ("placed", [], False)


@pytest.fixture
async def rig(db: Database, redis_url: str) -> AsyncIterator[Rig]:
    redis = redis_client(redis_url)
    try:
        stream = Stream(redis)
        await stream.ensure_group()
        yield Rig(db, redis, Commerce(Publisher(RedisOutlet(redis), db)), stream)
    finally:
        await redis.aclose()


def ids_of(entry_ids: list[bytes]) -> list[str]:
    return [text(e) for e in entry_ids]


# ---- reading, accepting, acknowledging


async def test_entries_read_are_accepted_and_acknowledged_after_the_commit(rig: Rig) -> None:
    ids = await rig.place(3)
    entries = ids_of(await rig.add_orders(ids))
    pending_at_commit: list[dict[str, tuple[str, int]]] = []

    @asynccontextmanager
    async def watched() -> AsyncIterator[CommerceUnit]:
        async with rig.commerce.transaction() as unit:
            yield unit
        pending_at_commit.append(await rig.pending())  # committed: acknowledged yet?

    consumer = rig.consumer("worker:a", transactions=watched)
    assert await consumer.consume_once() is True
    # One transaction for the batch; when it committed the entries were still pending.
    assert pending_at_commit == [{e: ("worker:a", 1) for e in entries}]
    assert await rig.state(ids) == [ACCEPTED] * 3
    assert await rig.pending() == {}
    assert await consumer.consume_once() is False  # nothing new
    assert await consumer.reclaim_once() is False  # nothing pending
    # A duplicate entry (the relay delivers at least once) changes nothing.
    await rig.add_orders(ids[:1])
    assert await consumer.consume_once() is True
    assert await rig.state(ids) == [ACCEPTED] * 3
    assert await rig.pending() == {}


async def test_an_acceptance_that_does_not_commit_leaves_its_entries_pending(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await rig.place(2)
    entries = ids_of(await rig.add_orders(ids))
    assert await rig.consumer("worker:a", transactions=rig.failing()).consume_once() is True
    assert await rig.state(ids) == [PLACED] * 2  # rolled back: nothing accepted
    assert await rig.pending() == {e: ("worker:a", 1) for e in entries}  # nothing acknowledged
    assert "batch of 2 failed" in caplog.text
    assert caplog.text.count("failed: Boom('rolled back')") == 2  # then each on its own


async def test_one_bad_entry_does_not_hold_back_the_rest_of_its_batch(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await rig.place(3)
    good = ids_of(await rig.add_orders(ids[:2]))
    unknown, malformed = ids_of(await rig.add({"order_id": "999999"}, {"order_id": "abc"}))
    also_good = ids_of(await rig.add_orders(ids[2:]))
    assert await rig.consumer("worker:a").consume_once() is True
    assert await rig.state(ids) == [ACCEPTED] * 3
    # The good entries are acknowledged; the bad ones stay pending, for retries and then
    # the dead letters.
    assert set(await rig.pending()) == {unknown, malformed}
    assert not set(good + also_good) & set(await rig.pending())
    assert "no orders with ids [999999]" in caplog.text
    assert "malformed queue entry" in caplog.text


async def test_only_malformed_entries_make_no_transaction(rig: Rig) -> None:
    made: list[int] = []

    @asynccontextmanager
    async def counted() -> AsyncIterator[CommerceUnit]:
        made.append(1)
        async with rig.commerce.transaction() as unit:
            yield unit

    (entry,) = ids_of(await rig.add({"note": "no order id"}))
    assert await rig.consumer("worker:a", transactions=counted).consume_once() is True
    assert made == []
    assert await rig.pending() == {entry: ("worker:a", 1)}


async def test_redis_failing_after_the_commit_is_raised_not_retried_one_by_one(
    db: Database, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis = redis_client(own_redis.url)
    try:
        rig = Rig(db, redis, Commerce(Publisher(RedisOutlet(redis), db)), Stream(redis))
        await rig.stream.ensure_group()
        ids = await rig.place(2)
        await rig.add_orders(ids)

        @asynccontextmanager
        async def then_redis_dies() -> AsyncIterator[CommerceUnit]:
            async with rig.commerce.transaction() as unit:
                yield unit
            own_redis.stop()  # committed; the XACK that follows cannot reach Redis

        with pytest.raises((RedisConnectionError, OSError)):
            await rig.consumer("worker:a", transactions=then_redis_dies).consume_once()
        assert await rig.state(ids) == [ACCEPTED] * 2  # the commit stands
        assert "retrying one by one" not in caplog.text
    finally:
        await redis.aclose()


# ---- taking over a dead consumer's entries (XPENDING + XCLAIM)


async def test_a_dead_consumers_idle_entries_are_taken_over(rig: Rig) -> None:
    ids = await rig.place(3)
    entries = ids_of(await rig.add_orders(ids))
    # A worker reads the entries and dies before accepting them.
    await rig.redis.xreadgroup(GROUP, "worker:dead", {STREAM: ">"}, count=10)
    assert await rig.pending() == {e: ("worker:dead", 1) for e in entries}

    # Not idle long enough yet: left alone.
    patient = rig.consumer("worker:heir", claim_idle_ms=60_000)
    assert await patient.reclaim_once() is False
    assert await rig.pending() == {e: ("worker:dead", 1) for e in entries}
    assert await rig.state(ids) == [PLACED] * 3

    # Idle long enough: claimed a page (batch) at a time, accepted, acknowledged.
    heir = rig.consumer("worker:heir", batch=2, claim_idle_ms=0)
    assert await heir.reclaim_once() is True  # a full page: there may be more
    assert await rig.pending() == {entries[2]: ("worker:dead", 1)}
    assert await heir.reclaim_once() is False
    assert await rig.pending() == {}
    assert await rig.state(ids) == [ACCEPTED] * 3  # each exactly once


async def test_a_claimed_entry_that_fails_again_is_held_by_its_new_consumer(rig: Rig) -> None:
    (order_id,) = await rig.place(1)
    (entry,) = ids_of(await rig.add_orders([order_id]))
    await rig.redis.xreadgroup(GROUP, "worker:dead", {STREAM: ">"}, count=10)
    heir = rig.consumer("worker:heir", transactions=rig.failing())
    assert await heir.reclaim_once() is False
    assert await rig.pending() == {entry: ("worker:heir", 2)}  # XCLAIM counts a delivery
    assert await rig.state([order_id]) == [PLACED]


async def test_entries_deleted_while_pending_are_dropped_from_the_claim(rig: Rig) -> None:
    ids = await rig.place(2)
    kept, deleted = ids_of(await rig.add_orders(ids))
    await rig.redis.xreadgroup(GROUP, "worker:dead", {STREAM: ">"}, count=10)
    await rig.redis.xdel(STREAM, deleted)
    assert await rig.consumer("worker:heir").reclaim_once() is False
    assert await rig.state(ids) == [ACCEPTED, PLACED]
    assert kept not in await rig.pending()


# ---- dead letters


async def test_hopeless_entries_land_in_the_dead_letters_and_the_rest_go_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    stuck, later = await rig.place(2)
    poison = [{"order_id": "abc"}, {"order_id": "999999"}, {"note": "no order id"}]
    await rig.add(*poison)
    (stuck_entry,) = ids_of(await rig.add_orders([stuck]))
    # A consumer whose acceptances never commit: every entry fails on every delivery.
    failing = rig.consumer("worker:a", transactions=rig.failing())
    assert await failing.consume_once() is True  # delivered once
    assert await failing.reclaim_once() is False  # twice
    assert await failing.reclaim_once() is False  # MAX_ATTEMPTS times
    assert {n for _c, n in (await rig.pending()).values()} == {MAX_ATTEMPTS}
    assert await rig.dead_letters() == []
    # A new entry, delivered once so far.
    (later_entry,) = ids_of(await rig.add_orders([later]))
    assert await failing.consume_once() is True
    assert (await rig.pending())[later_entry] == ("worker:a", 1)

    # Another worker: the hopeless ones go to the dead letters, the new one is retried.
    assert await rig.consumer("worker:b").reclaim_once() is False
    assert await rig.pending() == {}
    letters = await rig.dead_letters()
    got = {
        tuple(sorted(json.loads(d.entry)["fields"].items())): (d.order_id, d.attempts, d.error)
        for d in letters
    }
    failed = (MAX_ATTEMPTS, f"failed {MAX_ATTEMPTS} times")
    assert got == {
        (("order_id", "abc"),): (None, *failed),
        (("order_id", "999999"),): (999_999, *failed),
        (("note", "no order id"),): (None, *failed),
        (("order_id", str(stuck)),): (stuck, *failed),
    }
    assert json.loads(letters[-1].entry)["id"] == stuck_entry
    assert "moved 4 queue entries to the dead letters" in caplog.text
    # The dead-lettered order is not accepted, and its outbox entry is finished: the
    # relay does not put it back on the stream. The retried one was accepted.
    assert await rig.state([stuck, later]) == [("placed", [], True), ACCEPTED]
    relay = Relay(
        rig.stream, rig.commerce.transaction, epoch_owner="worker:b", batch=500,
        redeliver_after=timedelta(0), wake=lambda: None,
    )  # fmt: skip
    await rig.redis.set(keys.ORDERS_EPOCH, "worker:b")
    length = await rig.redis.xlen(STREAM)
    assert await relay.relay_once() is False
    assert await rig.redis.xlen(STREAM) == length


# ---- Redis lost the stream


async def test_a_lost_stream_is_recreated_and_unfinished_orders_are_relayed_again(
    rig: Rig,
) -> None:
    ids = await rig.place(3)
    queue = StreamQueue(
        rig.redis, rig.commerce.transaction, consumer="worker:a", block_ms=10, claim_idle_ms=0
    )
    # No epoch yet (Redis new): the relay first (re)creates the stream, then relays.
    assert await queue.relay.relay_once() is False
    assert text(await rig.redis.get(keys.ORDERS_EPOCH)) == "worker:a"
    assert queue._wake.is_set()  # the loops are woken to relay at once
    assert [text(f[b"order_id"]) for _i, f in await rig.redis.xrange(STREAM)] == [
        str(i) for i in ids
    ]
    assert await queue.relay.relay_once() is False  # relayed already: nothing again
    assert await rig.redis.xlen(STREAM) == 3
    first = rig.consumer("worker:a", batch=1)
    assert await first.consume_once() is True
    assert await rig.state(ids[:1]) == [ACCEPTED]

    await rig.redis.flushdb()  # Redis restarted without persistence
    queue._wake.clear()
    assert await queue.reader.reclaim_once() is False  # NOGROUP: nothing to claim
    assert await queue.reader.consume_once() is True  # NOGROUP: recovered
    assert [text(g["name"]) for g in await rig.redis.xinfo_groups(STREAM)] == [GROUP]
    assert text(await rig.redis.get(keys.ORDERS_EPOCH)) == "worker:a"
    assert queue._wake.is_set()
    assert await queue.relay.relay_once() is False  # only the unfinished ones again
    assert [text(f[b"order_id"]) for _i, f in await rig.redis.xrange(STREAM)] == [
        str(i) for i in ids[1:]
    ]
    assert await queue.reader.consume_once() is True
    assert await rig.state(ids) == [ACCEPTED] * 3  # each exactly once
    assert await rig.pending() == {}


async def test_orders_unmarked_after_a_failed_push_are_relayed_again(rig: Rig) -> None:
    ids = await rig.place(2)
    queue = StreamQueue(rig.redis, rig.commerce.transaction, consumer="worker:a", block_ms=10)
    await queue.relay.relay_once()
    await rig.redis.xtrim(STREAM, maxlen=0)  # the push did not happen after all
    await queue.relay.relay_once()
    assert await rig.redis.xlen(STREAM) == 0  # marked relayed: not sent again yet
    await queue.unmark(ids)
    await queue.relay.relay_once()
    assert await rig.redis.xlen(STREAM) == 2
    await queue.push([])  # nothing to push: no entry
    assert await rig.redis.xlen(STREAM) == 2


async def test_errors_other_than_a_lost_group_are_raised(rig: Rig) -> None:
    await rig.stream.ensure_group()  # exists already (BUSYGROUP): fine
    await rig.redis.delete(STREAM)
    await rig.redis.set(STREAM, "not a stream")
    consumer = rig.consumer("worker:a")
    for call in (rig.stream.ensure_group, consumer.consume_once, consumer.reclaim_once):
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await call()
    assert rig.recovered == []


def test_lost_group_is_told_apart() -> None:
    assert is_lost_group(ResponseError("NOGROUP No such key 'x' or consumer group 'g'"))
    assert not is_lost_group(ResponseError("WRONGTYPE Operation against a key"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({b"order_id": b"42"}, 42),
        ({"order_id": "7"}, 7),
        ({b"order_id": b"999999999"}, 999_999_999),
        ({b"order_id": b"1000000000"}, None),  # ten digits: malformed, not an overflow
        ({b"order_id": b"-1"}, None),
        ({b"order_id": b"abc"}, None),
        ({"order_id": "١٢"}, None),  # digits, but not ASCII ones
        ({b"order_id": b""}, None),
        ({b"note": b"1"}, None),
    ],
)
def test_order_id_of(fields: dict[Any, Any], expected: int | None) -> None:
    assert order_id_of(fields) == expected


def test_claimed_entries_skip_entries_deleted_meanwhile() -> None:
    claimed = [(b"1-0", {b"order_id": b"1"}), (b"2-0", None), (b"3-0", {b"order_id": b"3"})]
    assert claimed_entries(claimed) == [
        (b"1-0", {b"order_id": b"1"}),
        (b"3-0", {b"order_id": b"3"}),
    ]


# ---- the loops together, and housekeeping


async def test_a_started_queue_relays_and_accepts_on_its_own(rig: Rig) -> None:
    commits = asyncio.Queue[None]()

    @asynccontextmanager
    async def counted() -> AsyncIterator[CommerceUnit]:
        async with rig.commerce.transaction() as unit:
            yield unit
        commits.put_nowait(None)

    queue = StreamQueue(rig.redis, counted, consumer="worker:a", block_ms=50, relay_poll_s=0.05)
    await queue.start()
    try:
        ids = await rig.place(3)
        queue.poke()  # new work
        async with asyncio.timeout(WAIT_S):
            while await rig.state(ids) != [ACCEPTED] * 3:
                await commits.get()  # the queue's next commit
        # The acknowledgement follows the commit (a stop in between leaves the entries
        # pending for the next consumer to reclaim: at least once).
        for _ in range(int(WAIT_S / 0.05)):
            if not await rig.pending():
                break
            await asyncio.sleep(0.05)
    finally:
        await queue.stop()
    assert queue._tasks == []
    assert await rig.pending() == {}


async def test_housekeeping_forgets_idempotency_keys_past_their_time(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "livecart.fulfillment")
    now = utcnow()
    async with rig.db.write() as session:
        user = await create_user(session, "keeper", "password123", Role.VIEWER)
        for key, age in (("old", timedelta(hours=49)), ("fresh", timedelta(hours=47))):
            session.add(IdempotencyRecord(
                buyer_id=user.id, key=key, request_hash="h", created_at=now - age
            ))  # fmt: skip
    passes = asyncio.Queue[int]()
    pass_number = itertools.count(1)

    @asynccontextmanager
    async def counted() -> AsyncIterator[CommerceUnit]:
        async with rig.commerce.transaction() as unit:
            yield unit
        passes.put_nowait(next(pass_number))

    monkeypatch.setattr(housekeeping, "HOUSEKEEPING_S", 0.0)  # not ten minutes apart
    loops = Loops(idle_s=60)
    housekeeping.spawn_housekeeping(loops, counted)
    try:
        async with asyncio.timeout(WAIT_S):
            while await passes.get() < 2:  # one pass that forgot the key, one with nothing
                pass
    finally:
        await loops.stop()
    async with rig.db.read() as session:
        keys_left = (await session.exec(select(IdempotencyRecord.key))).all()
    assert list(keys_left) == ["fresh"]
    assert caplog.text.count("forgot 1 old Idempotency-Keys") == 1
