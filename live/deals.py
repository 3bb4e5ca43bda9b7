"""Buying from a flash deal: units and per-buyer limits taken atomically.

Called by checkout (through ``app``) inside the orders' transaction, after the
live's row is locked: ``terms`` reads the deal as it stands (it cannot change
while the lock is held), checkout decides the orders in arrival order, and
``take`` applies them with one conditional UPDATE of the remaining units and one
conditional multi-row upsert of the buyers' claims, so concurrency can neither
oversell a deal nor let a buyer past the limit — on SQLite and PostgreSQL
alike. When no unit is left the caller ends the deal with ``sold_out``, exactly
once (``deal_ended {reason: "sold_out"}``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.deals import DealTerms
from common.sql import upsert_insert
from common.times import utc, utcnow
from live.errors import DealExhausted, DealLimitReached
from live.log import EventBatch
from live.models import DealClaim, Live, LivePin, LiveStatus
from live.pins import end_deal


async def _current_pin(session: AsyncSession, live_id: int, product_id: int) -> LivePin | None:
    """The live's current pin if it shows ``product_id``."""
    query = (
        select(LivePin)
        .join(Live, col(Live.pin_id) == col(LivePin.id))
        .where(Live.id == live_id, LivePin.product_id == product_id)
    )
    return (await session.exec(query)).first()


async def remaining(session: AsyncSession, live_id: int, product_id: int) -> int | None:
    """Units left of the deal ``live_id`` runs on ``product_id``, as this transaction sees
    them (its own ``take`` included); None when the product is not pinned there, has no
    deal, or its deal ended. For ``stock`` frames: two columns, not the whole pin row."""
    query = (
        select(LivePin.deal_remaining, LivePin.deal_ended_reason)
        .join(Live, col(Live.pin_id) == col(LivePin.id))
        .where(Live.id == live_id, LivePin.product_id == product_id)
    )
    row = (await session.exec(query)).first()
    if row is None or row[0] is None or row[1] is not None:
        return None
    return int(row[0])


def _running(pin: LivePin, now: datetime) -> bool:
    return (
        pin.deal_price_cents is not None
        and pin.deal_ended_reason is None
        and pin.deal_ends_at is not None
        and utc(pin.deal_ends_at) > now
    )


async def live_status(session: AsyncSession, live_id: int) -> str | None:
    return (await session.exec(select(Live.status).where(Live.id == live_id))).first()


async def lives_showing(session: AsyncSession, product_id: int) -> list[int]:
    """Running lives whose pinned product is ``product_id``."""
    rows = await session.exec(
        select(Live.id)
        .join(LivePin, col(LivePin.id) == col(Live.pin_id))
        .where(LivePin.product_id == product_id, Live.status == LiveStatus.LIVE.value)
    )
    return [i for i in rows.all() if i is not None]


async def lock_lives(session: AsyncSession, live_ids: list[int]) -> None:
    """Lock lives' rows in id order (PostgreSQL; SQLite writers are already serialised)."""
    for live_id in sorted(live_ids):
        await session.exec(select(Live.id).where(Live.id == live_id).with_for_update())


async def terms(
    session: AsyncSession, live_id: int, product_id: int, buyer_ids: list[int]
) -> DealTerms:
    """The deal terms for several orders at once; the caller holds the live's lock."""
    pin = await _current_pin(session, live_id, product_id)
    if pin is None or pin.id is None:
        return DealTerms(pin_id=None)
    if not _running(pin, utcnow()) or pin.deal_price_cents is None:
        return DealTerms(pin_id=pin.id)
    claimed: dict[int, int] = {}
    if pin.deal_per_buyer_limit is not None and buyer_ids:
        rows = await session.exec(
            select(DealClaim.buyer_id, DealClaim.quantity).where(
                DealClaim.pin_id == pin.id, col(DealClaim.buyer_id).in_(sorted(set(buyer_ids)))
            )
        )
        claimed = {int(b): int(q) for b, q in rows.all()}
    ends_at = utc(pin.deal_ends_at) if pin.deal_ends_at is not None else None
    return DealTerms(pin.id, pin.deal_price_cents, pin.deal_remaining or 0,
                     pin.deal_per_buyer_limit, claimed, ends_at)  # fmt: skip


async def take(batch: EventBatch, live_id: int, pin_id: int, per_buyer: dict[int, int]) -> int:
    """Take deal units for several buyers at once (``per_buyer``: buyer id -> units), as
    decided on ``terms`` read in this transaction; returns the units left. The statements
    stay conditional: if the terms changed after all, nothing is taken and
    ``DealExhausted``/``DealLimitReached`` says why (the caller rolls back). At 0 left
    the caller ends the deal with ``sold_out`` (after the frames that come before it)."""
    session = batch.session
    units = sum(per_buyer.values())
    taken = await session.exec(
        update(LivePin)
        .where(col(LivePin.id) == pin_id, col(LivePin.deal_ended_reason).is_(None),
               col(LivePin.deal_remaining) >= units)
        .values(deal_remaining=col(LivePin.deal_remaining) - units)
        .returning(col(LivePin.deal_remaining), col(LivePin.deal_per_buyer_limit))
    )  # fmt: skip
    row = taken.first()
    if row is None:
        raise DealExhausted("the deal's units changed meanwhile")
    left, limit = int(row[0]), row[1]
    if limit is not None:
        insert = upsert_insert(session)
        stmt = insert(DealClaim).values(
            [{"pin_id": pin_id, "buyer_id": b, "quantity": q} for b, q in sorted(per_buyer.items())]
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["pin_id", "buyer_id"],
            set_={"quantity": DealClaim.quantity + stmt.excluded.quantity},
            where=(DealClaim.quantity + stmt.excluded.quantity) <= limit,
        )
        result = await session.exec(upsert)
        if result.rowcount != len(per_buyer):
            raise DealLimitReached(f"the deal allows {limit} per buyer", limit=limit)
    return left


async def sold_out(batch: EventBatch, pin_id: int) -> None:
    """End the pin's deal with ``sold_out`` (appends ``deal_ended``), if still running."""
    pin = await batch.session.get(LivePin, pin_id)
    if pin is not None:
        await end_deal(batch, pin, "sold_out")
