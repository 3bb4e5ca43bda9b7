"""Giveaways in the database: start, take entries in batches, draw exactly once, settle.

- Starting locks the live's row (lives before what hangs off them), so a live runs at
  most one open giveaway, and its keyword never equals the current pin's claim keyword.
- Entries to one giveaway are written in batches (``EntryDesk``): each batch locks the
  giveaway's row, checks it is open and before ``ends_at`` by the clock read under the
  lock, and inserts its new entries (one per account: a unique index) in arrival order.
- The draw takes the same row lock: it waits for a batch under way and every batch
  after it finds the giveaway drawn, so the entry list the winner is computed from is
  exactly the committed one, and nobody enters after it. The draw is a state change
  under the lock (``open`` → ``drawn``), so one process draws, whatever the number.

Entry order is ``id`` order. Guarantees: a giveaway is drawn at most once; its
``giveaway_ended`` event commits with the draw; an entry either counts in the draw or
was refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from common.lanes import Lanes
from common.times import iso_utc, utc, utcnow
from live import giveaway_rules, pins
from live.errors import (
    AlreadyEntered,
    ForeignProduct,
    GiveawayClosed,
    GiveawayRunning,
    InvalidState,
    KeywordInUse,
    LiveError,
    LiveNotFound,
)
from live.log import EventBatch
from live.models import Giveaway, GiveawayEntry, LivePin, LiveStatus
from live.pins import Actor, ProductCard

OPEN, DRAWN = "open", "drawn"


def _who(user_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if user_id is None else {"id": user_id, "username": name}


def giveaway_view(
    g: Giveaway, entries: int | None = None, entered: bool | None = None
) -> dict[str, Any]:
    """The giveaway as clients see it; the seed only once drawn. ``entries``: the count
    while open (the row keeps it from the draw on)."""
    drawn = g.status == DRAWN
    return {
        "id": g.id, "live_id": g.live_id, "product_id": g.product_id,
        "product": json.loads(g.card), "status": g.status, "ends_at": iso_utc(g.ends_at),
        "entries": g.entries if drawn or entries is None else entries,
        "seed_hash": g.seed_hash, "seed": g.seed if drawn else None, "keyword": g.keyword,
        "winner": _who(g.winner_id, g.winner_name), "order_id": g.order_id,
        "unclaimed": g.unclaimed, "drawn_at": iso_utc(g.drawn_at) if g.drawn_at else None,
        "entered": entered,
    }  # fmt: skip


def ended_view(g: Giveaway) -> dict[str, Any]:
    """The ``giveaway_ended`` event's data."""
    return {
        "giveaway_id": g.id, "winner": _who(g.winner_id, g.winner_name), "seed": g.seed,
        "seed_hash": g.seed_hash, "entries": g.entries,
    }  # fmt: skip


async def open_on(session: AsyncSession, live_id: int) -> Giveaway | None:
    """The live's open giveaway (at most one), if any."""
    query = select(Giveaway).where(Giveaway.live_id == live_id, Giveaway.status == OPEN)
    return (await session.exec(query)).first()


async def start(
    batch: EventBatch,
    live_id: int,
    product: ProductCard,
    by: Actor,
    duration_s: int,
    keyword: str | None = None,
) -> Giveaway:
    """Start a giveaway of one unit (the caller holds it from stock in this transaction);
    appends ``giveaway_started``."""
    session = batch.session
    live = await pins.lock_live(session, live_id)
    if live.status != LiveStatus.LIVE:
        raise InvalidState(f"giveaways run only while live (it is {live.status})")
    if product.creator_id != live.creator_id:
        raise ForeignProduct("only the live creator's own products can be given away")
    if await open_on(session, live_id) is not None:
        raise GiveawayRunning("a giveaway is already open on this live")
    if keyword is not None and live.pin_id is not None:
        pin = await session.get(LivePin, live.pin_id)
        if pin is not None and (pin.claim_keyword or "").lower() == keyword.lower():
            raise KeywordInUse("the pinned card buys with that keyword: choose another")
    seed = giveaway_rules.new_seed()
    row = Giveaway(
        live_id=live_id, product_id=product.id, started_by=by.id,
        card=json.dumps(product.card, separators=(",", ":")),
        currency=str(product.card.get("currency", "USD")), keyword=keyword, seed=seed,
        seed_hash=giveaway_rules.seed_hash(seed),
        ends_at=utcnow() + timedelta(seconds=duration_s),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    await batch.append(live_id, "giveaway_started", {"giveaway": giveaway_view(row, 0)})
    return row


async def _locked(session: AsyncSession, giveaway_id: int) -> Giveaway | None:
    query = select(Giveaway).where(Giveaway.id == giveaway_id).with_for_update()
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def enter_many(
    session: AsyncSession, giveaway_id: int, people: Sequence[Actor]
) -> list[int | LiveError]:
    """Enter ``people`` in order (one transaction, the caller's): per person the number
    of entries once theirs is in, or the error refusing it."""
    g = await _locked(session, giveaway_id)
    if g is None:
        return [LiveNotFound("giveaway not found", giveaway_id=giveaway_id)] * len(people)
    if g.status != OPEN or utc(g.ends_at) <= utcnow():
        return [GiveawayClosed("the giveaway has ended", giveaway_id=giveaway_id)] * len(people)
    ids = sorted({p.id for p in people})
    query = select(GiveawayEntry.user_id).where(
        GiveawayEntry.giveaway_id == giveaway_id, col(GiveawayEntry.user_id).in_(ids)
    )
    seen = set((await session.exec(query)).all())
    fresh: list[Actor] = []
    for person in people:
        if person.id not in seen:
            seen.add(person.id)
            fresh.append(person)
    now = utcnow()
    session.add_all(
        GiveawayEntry(giveaway_id=giveaway_id, user_id=p.id, username=p.username, at=now)
        for p in fresh
    )
    await session.flush()
    total = await count_entries(session, giveaway_id)
    new = {p.id for p in fresh}
    results: list[int | LiveError] = []
    for person in people:
        if person.id in new:
            new.discard(person.id)  # a second try in the same batch is a repeat
            results.append(total)
        else:
            results.append(AlreadyEntered("you have entered already", giveaway_id=giveaway_id))
    return results


class EntryDesk:
    """Entries to one giveaway go together (``common.lanes``): ten thousand viewers
    entering in the same second are a few transactions, not one each on the row lock."""

    def __init__(
        self,
        sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        on_entered: Callable[[int], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.on_entered = on_entered  # called with the giveaway's id once entries commit
        self._lanes: Lanes[int, Actor, int | LiveError] = Lanes(
            self._batch, max_batch=1000, name="giveaway-entries"
        )

    async def enter(self, giveaway_id: int, person: Actor) -> int:
        """Enter; returns the number of entries once this one is in, or raises why not."""
        answer = await self._lanes.submit(giveaway_id, person)
        if isinstance(answer, LiveError):
            raise answer
        return answer

    async def stop(self) -> None:
        await self._lanes.stop()

    async def _batch(self, giveaway_id: int, people: list[Actor]) -> list[int | LiveError]:
        async with self.sessions() as session:
            results = await enter_many(session, giveaway_id, people)
        if self.on_entered is not None and any(isinstance(r, int) for r in results):
            self.on_entered(giveaway_id)
        return results


async def draw(batch: EventBatch, giveaway_id: int, now: datetime) -> Giveaway | None:
    """Draw the giveaway if it is open and due: reveal the seed, pick the winner from the
    entries in order, append ``giveaway_ended``. None when not due or drawn already.
    With no entries it is settled at once (``unclaimed: no_entries``): the caller puts
    the unit back in this transaction."""
    session = batch.session
    g = await _locked(session, giveaway_id)
    if g is None or g.status != OPEN or utc(g.ends_at) > now:
        return None
    entrants = await _entrant_rows(session, giveaway_id)
    index = giveaway_rules.winner_index(g.seed, [user_id for user_id, _name in entrants])
    g.status, g.drawn_at, g.entries = DRAWN, now, len(entrants)
    if index is None:
        g.unclaimed, g.settled_at = "no_entries", now
    else:
        g.winner_id, g.winner_name = entrants[index]
    session.add(g)
    await session.flush()
    await batch.append(g.live_id, "giveaway_ended", ended_view(g))
    return g


async def settle(
    session: AsyncSession, giveaway_id: int, order_id: int | None, unclaimed: str | None = None
) -> bool:
    """Record what became of a drawn giveaway's prize: the winner's order, or why it was
    not sent (the caller then puts the unit back). False if settled already."""
    result = await session.exec(
        update(Giveaway)
        .where(col(Giveaway.id) == giveaway_id, col(Giveaway.status) == DRAWN,
               col(Giveaway.settled_at).is_(None))
        .values(order_id=order_id, unclaimed=unclaimed, settled_at=utcnow())
    )  # fmt: skip
    return bool(result.rowcount)


async def next_deadline(session: AsyncSession) -> datetime | None:
    """The earliest ``ends_at`` of an open giveaway."""
    query = select(func.min(Giveaway.ends_at)).where(Giveaway.status == OPEN)
    value = (await session.exec(query)).first()
    return utc(value) if value is not None else None


@dataclass(frozen=True)
class Due:
    id: int
    live_id: int
    product_id: int


async def due(session: AsyncSession, now: datetime) -> list[Due]:
    query = select(Giveaway.id, Giveaway.live_id, Giveaway.product_id).where(
        Giveaway.status == OPEN, col(Giveaway.ends_at) <= now
    )
    return [Due(i or 0, live, product) for i, live, product in (await session.exec(query)).all()]


async def unsettled(session: AsyncSession, drawn_before: datetime) -> list[int]:
    """Giveaways drawn before ``drawn_before`` whose prize is not dealt with: the process
    that drew them stopped first (it settles its own right after drawing)."""
    query = select(Giveaway.id).where(
        Giveaway.status == DRAWN, col(Giveaway.settled_at).is_(None),
        col(Giveaway.drawn_at) < drawn_before,
    )  # fmt: skip
    return [i for i in (await session.exec(query)).all() if i is not None]


async def get(session: AsyncSession, giveaway_id: int) -> Giveaway:
    g = await session.get(Giveaway, giveaway_id)
    if g is None:
        raise LiveNotFound("giveaway not found", giveaway_id=giveaway_id)
    return g


async def count_entries(session: AsyncSession, giveaway_id: int) -> int:
    query = select(func.count()).where(GiveawayEntry.giveaway_id == giveaway_id)
    return int((await session.exec(query)).one())


async def has_entered(session: AsyncSession, giveaway_id: int, user_id: int) -> bool:
    query = select(GiveawayEntry.id).where(
        GiveawayEntry.giveaway_id == giveaway_id, GiveawayEntry.user_id == user_id
    )
    return (await session.exec(query)).first() is not None


async def entrants(session: AsyncSession, giveaway_id: int) -> list[dict[str, Any]]:
    """Everyone who entered, in entry order: what the draw was computed from."""
    return [{"id": i, "username": name} for i, name in await _entrant_rows(session, giveaway_id)]


async def _entrant_rows(session: AsyncSession, giveaway_id: int) -> list[tuple[int, str]]:
    """(user id, username) of every entry, in entry order (the draw's and the public list's)."""
    query = (
        select(GiveawayEntry.user_id, GiveawayEntry.username)
        .where(GiveawayEntry.giveaway_id == giveaway_id)
        .order_by(col(GiveawayEntry.id))
    )
    return [(i, name) for i, name in (await session.exec(query)).all()]


async def of_live(session: AsyncSession, live_id: int) -> Sequence[Giveaway]:
    query = select(Giveaway).where(Giveaway.live_id == live_id).order_by(col(Giveaway.id).desc())
    return (await session.exec(query)).all()
