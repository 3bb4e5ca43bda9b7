"""Live auctions in the database: start, take bids in batches, close exactly once, settle.

Every change locks the live's row first, then the auction's (the lock order of the
whole code base: lives before what hangs off them), applies ``live.auction_rules``
and appends its events in the same transaction, so:

- bids from any number of processes are taken one batch at a time, in arrival order
  within a batch, each against the state the previous one left;
- a bid is accepted only before ``ends_at`` by the server's clock read under the lock,
  and its soft-close extension commits with it;
- closing is a conditional UPDATE (``closed_at`` unset and ``ends_at`` passed): one
  process wins it, whatever the number of processes, and an extension committed
  first makes it a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import upsert_insert
from common.times import iso_utc, utc, utcnow
from live import pins
from live.auction_rules import Accepted, Bidder, Ledger, Standing
from live.errors import (
    AuctionClosed,
    AuctionRunning,
    ForeignProduct,
    InvalidState,
    LiveError,
    LiveNotFound,
)
from live.log import EventBatch
from live.models import Auction, AuctionBid, AuctionStanding, Live, LiveStatus
from live.pins import Actor, ProductCard


@dataclass(frozen=True)
class AuctionTerms:
    """What a creator asks for when starting an auction (validated by the caller)."""

    start_cents: int
    duration_s: int
    extend_s: int = 10
    sudden_death: bool = False


@dataclass(frozen=True)
class BidRequest:
    bidder: Bidder
    amount_cents: int
    max_cents: int | None = None


def _who(user_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if user_id is None else {"id": user_id, "username": name}


def _next_min(a: Auction) -> int:
    return Ledger(a.start_cents, a.ends_at, a.extend_s, a.sudden_death, a.price_cents,
                  a.bids).next_min_cents  # fmt: skip


def auction_view(a: Auction) -> dict[str, Any]:
    """The auction as clients see it (maximums are never shown)."""
    return {
        "id": a.id, "live_id": a.live_id, "product_id": a.product_id, "status": a.status,
        "currency": a.currency, "start_cents": a.start_cents, "price_cents": a.price_cents,
        "next_min_cents": _next_min(a), "leader": _who(a.leader_id, a.leader_name),
        "bids": a.bids, "ends_at": iso_utc(a.ends_at), "extend_s": a.extend_s,
        "sudden_death": a.sudden_death, "winner": _who(a.winner_id, a.winner_name),
        "order_id": a.order_id,
    }  # fmt: skip


def bid_view(auction_id: int, done: Accepted) -> dict[str, Any]:
    """The ``bid`` event's data."""
    return {
        "auction_id": auction_id, "price_cents": done.price_cents,
        "next_min_cents": done.next_min_cents,
        "leader": {"id": done.leader.id, "username": done.leader.username},
        "bids": done.bids, "ends_at": iso_utc(done.ends_at),
    }  # fmt: skip


async def running_on(session: AsyncSession, live_id: int) -> Auction | None:
    """The live's running auction (at most one), if any."""
    query = select(Auction).where(Auction.live_id == live_id, Auction.status == "running")
    return (await session.exec(query)).first()


async def start(
    batch: EventBatch, live_id: int, product: ProductCard, by: Actor, terms: AuctionTerms
) -> dict[str, Any]:
    """Start an auction of one unit (the caller holds it from stock in this transaction)
    and pin its product; appends ``pinned`` then ``auction_started``."""
    session = batch.session
    live = await pins.lock_live(session, live_id)
    if live.status != LiveStatus.LIVE:
        raise InvalidState(f"auctions run only while live (it is {live.status})")
    if product.creator_id != live.creator_id:
        raise ForeignProduct("only the live creator's own products can be auctioned")
    if await running_on(session, live_id) is not None:
        raise AuctionRunning("an auction is already running on this live")
    await pins.pin(batch, live_id, product, by)
    row = Auction(
        live_id=live_id, product_id=product.id, started_by=by.id,
        card=json.dumps(product.card, separators=(",", ":")),
        currency=str(product.card.get("currency", "USD")),
        start_cents=terms.start_cents, price_cents=terms.start_cents,
        extend_s=terms.extend_s, sudden_death=terms.sudden_death,
        ends_at=utcnow() + timedelta(seconds=terms.duration_s),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    view = auction_view(row)
    await batch.append(live_id, "auction_started", {"auction": view})
    return view


async def _lock(
    session: AsyncSession, auction_id: int, live_id: int | None = None
) -> tuple[Live, Auction]:
    """Lock the auction's live, then the auction (the code base's lock order). ``live_id``
    (the auction's, which never changes) saves a query when known."""
    if live_id is None:
        query_live = select(Auction.live_id).where(Auction.id == auction_id)
        live_id = (await session.exec(query_live)).first()
        if live_id is None:
            raise LiveNotFound("auction not found", auction_id=auction_id)
    live = await pins.lock_live(session, live_id)
    query = select(Auction).where(Auction.id == auction_id).with_for_update()
    a = (await session.exec(query)).first()
    if a is None or a.live_id != live_id:
        raise LiveNotFound("auction not found", auction_id=auction_id)
    return live, a


async def _ledger(session: AsyncSession, a: Auction, bidders: set[int] | None = None) -> Ledger:
    """The auction as the rules see it. With ``bidders`` (a batch's), only the standings
    that batch can touch or be ranked against: the best two, and the batch's own — the
    new best two are among them, as only the batch's maximums change. None of them can
    change with no ``bidders``: nothing is read."""
    query = select(AuctionStanding).where(AuctionStanding.auction_id == a.id)
    rows: list[AuctionStanding] = []
    if bidders is None:
        rows = list((await session.exec(query)).all())
    elif bidders:
        ranked = (col(AuctionStanding.max_cents).desc(), col(AuctionStanding.since))
        best = (
            select(AuctionStanding.bidder_id)
            .where(AuctionStanding.auction_id == a.id)
            .order_by(*ranked)
            .limit(2)
        )
        ours = col(AuctionStanding.bidder_id).in_(sorted(bidders))
        rows = list(
            (await session.exec(query.where(ours | col(AuctionStanding.bidder_id).in_(best)))).all()
        )
    book = Ledger(a.start_cents, utc(a.ends_at), a.extend_s, a.sudden_death, a.price_cents,
                  a.bids)  # fmt: skip
    for s in rows:
        bidder = Bidder(s.bidder_id, s.bidder_name)
        book.standings[s.bidder_id] = Standing(bidder, s.amount_cents, s.max_cents, s.since)
    return book


@dataclass
class Taken:
    """The outcome of a batch: per request an ``Accepted`` or the ``LiveError`` refusing
    it, in request order; ``outbid``: (user id, auction id, price) private notices to send
    once the transaction commits; ``auction``: its view after the batch."""

    results: list[Accepted | LiveError]
    outbid: list[tuple[int, int, int]]
    auction: dict[str, Any]


async def take_bids(
    batch: EventBatch,
    auction_id: int,
    requests: Sequence[BidRequest],
    *,
    live_id: int | None = None,
    locked: Callable[[], None] | None = None,
) -> Taken:
    """Take several bids on one auction in one transaction, in order (``live_id``: the
    auction's, when the caller knows it; ``locked`` is called once the live's lock is held).

    Standings are read only for the bids that can stand (at or over the next minimum as
    the batch starts: it only rises), and the batch's writes go out together with its
    events (``EventBatch.append_locked``): one round trip on PostgreSQL."""
    session = batch.session
    live, a = await _lock(session, auction_id, live_id)
    if locked is not None:
        locked()
    if a.status != "running" or a.closed_at is not None:
        refused = AuctionClosed("the auction has ended", auction_id=auction_id)
        return Taken([refused] * len(requests), [], auction_view(a))
    session.expunge(a)  # its new state is written with the batch's other writes, below
    floor = _next_min(a)
    hopeful = {r.bidder.id for r in requests if r.amount_cents >= floor}
    book = await _ledger(session, a, hopeful)
    now = utcnow()
    results: list[Accepted | LiveError] = []
    events: list[tuple[str, dict[str, Any]]] = []
    taken: list[dict[str, Any]] = []
    outbid: list[tuple[int, int, int]] = []
    for req in requests:
        try:
            done = book.bid(req.bidder, req.amount_cents, req.max_cents, now)
        except LiveError as exc:
            results.append(exc)
            continue
        results.append(done)
        events.append(("bid", bid_view(auction_id, done)))
        taken.append({
            "auction_id": auction_id, "bidder_id": req.bidder.id,
            "bidder_name": req.bidder.username, "amount_cents": req.amount_cents,
            "price_cents": done.price_cents, "leader_id": done.leader.id, "at": now,
        })  # fmt: skip
        if done.outbid is not None:
            outbid.append((done.outbid.id, auction_id, done.price_cents))
    if events:
        writes = [*_write_back(session, a, book, hopeful), insert(AuctionBid).values(taken)]
        await batch.append_locked(live, events, writes)
    return Taken(results, outbid, auction_view(a))


def _write_back(
    session: AsyncSession, a: Auction, book: Ledger, touched: set[int]
) -> list[UpdateBase]:
    """``a`` set to the ledger's state, and the statements that store it with the
    standings of ``touched`` bidders."""
    leader = book.leader
    a.price_cents, a.bids, a.ends_at = book.price_cents, book.bids, book.ends_at
    a.leader_id = leader.id if leader else None
    a.leader_name = leader.username if leader else None
    state = update(Auction).where(col(Auction.id) == a.id).values(
        price_cents=a.price_cents, bids=a.bids, ends_at=a.ends_at,
        leader_id=a.leader_id, leader_name=a.leader_name,
    )  # fmt: skip
    rows = [
        {"auction_id": a.id, "bidder_id": s.bidder.id, "bidder_name": s.bidder.username,
         "amount_cents": s.amount_cents, "max_cents": s.max_cents, "since": s.since}
        for s in book.standings.values() if s.bidder.id in touched
    ]  # fmt: skip
    if not rows:
        return [state]
    stmt = upsert_insert(session)(AuctionStanding).values(rows)
    stand = stmt.on_conflict_do_update(
        index_elements=["auction_id", "bidder_id"],
        set_={k: stmt.excluded[k] for k in ("amount_cents", "max_cents", "since")},
    )
    return [state, stand]


async def next_deadline(session: AsyncSession) -> datetime | None:
    """The earliest ``ends_at`` of an auction not yet closed."""
    query = select(func.min(Auction.ends_at)).where(col(Auction.closed_at).is_(None))
    value = (await session.exec(query)).first()
    return utc(value) if value is not None else None


async def close_due(batch: EventBatch, now: datetime | None = None) -> list[int]:
    """Close every auction whose time is up; returns the ids this call closed (each is
    closed by exactly one call, in any process)."""
    now = now or utcnow()
    due = await batch.session.exec(
        select(Auction.id, Auction.live_id).where(
            col(Auction.closed_at).is_(None), col(Auction.ends_at) <= now
        )
    )
    closed = []
    for auction_id, live_id in due.all():
        await pins.lock_live(batch.session, live_id)
        result = await batch.session.exec(
            update(Auction)
            .where(col(Auction.id) == auction_id, col(Auction.closed_at).is_(None),
                   col(Auction.ends_at) <= now)
            .values(closed_at=now)
        )  # fmt: skip
        if result.rowcount == 1 and auction_id is not None:
            closed.append(auction_id)
    return closed


async def unsettled(session: AsyncSession, closed_before: datetime) -> list[int]:
    """Auctions closed before ``closed_before`` but not yet sold or unsold: the process
    that closed them stopped before settling (it settles its own right after closing)."""
    query = select(Auction.id).where(
        col(Auction.closed_at).is_not(None),
        col(Auction.closed_at) < closed_before,
        Auction.status == "running",
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def ranking(session: AsyncSession, auction_id: int) -> list[Standing]:
    a = await session.get(Auction, auction_id)
    if a is None:
        raise LiveNotFound("auction not found", auction_id=auction_id)
    return (await _ledger(session, a)).ranking


async def settle(
    batch: EventBatch,
    auction_id: int,
    winner: Bidder | None,
    price_cents: int,
    order_id: int | None,
    passed: list[dict[str, Any]],
) -> bool:
    """End a closed auction ``sold`` (to ``winner``, with its order) or ``unsold``;
    appends ``auction_ended``. False if it was settled already (nothing changes)."""
    _live, a = await _lock(batch.session, auction_id)
    if a.status != "running" or a.closed_at is None:
        return False
    a.status = "sold" if winner is not None else "unsold"
    a.winner_id = winner.id if winner else None
    a.winner_name = winner.username if winner else None
    a.price_cents, a.order_id, a.ended_at = price_cents, order_id, utcnow()
    a.passed = json.dumps(passed, separators=(",", ":"))
    batch.session.add(a)
    await batch.append(a.live_id, "auction_ended", {
        "auction_id": auction_id, "status": a.status,
        "winner": _who(a.winner_id, a.winner_name), "price_cents": a.price_cents,
        "order_id": a.order_id, "passed": passed,
    })  # fmt: skip
    return True


async def get(session: AsyncSession, auction_id: int) -> Auction:
    a = await session.get(Auction, auction_id)
    if a is None:
        raise LiveNotFound("auction not found", auction_id=auction_id)
    return a


async def of_live(session: AsyncSession, live_id: int) -> Sequence[Auction]:
    query = select(Auction).where(Auction.live_id == live_id).order_by(col(Auction.id).desc())
    return (await session.exec(query)).all()


async def bids_of(session: AsyncSession, auction_id: int) -> Sequence[AuctionBid]:
    query = (
        select(AuctionBid).where(AuctionBid.auction_id == auction_id).order_by(col(AuctionBid.id))
    )
    return (await session.exec(query)).all()
