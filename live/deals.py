"""Buying from a flash deal: units and per-buyer limits taken atomically.

Called by checkout (through ``app``) inside the order's transaction, after the
live's row is locked. The remaining count is decremented with one conditional
UPDATE and the buyer's claim with one conditional upsert, so concurrency can
neither oversell a deal nor let a buyer past the limit — on SQLite and
PostgreSQL alike. The claim that takes the last unit ends the deal
(``deal_ended {reason: "sold_out"}``), exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from live.errors import DealExhausted, DealLimitReached
from live.log import EventBatch
from live.models import DealClaim, Live, LivePin, LiveStatus, utcnow
from live.pins import end_deal
from live.sql import upsert_insert


@dataclass(frozen=True)
class Claimed:
    """The product is pinned on the live; ``price_cents`` is set when a deal priced it."""

    pin_id: int
    price_cents: int | None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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


async def claim(
    batch: EventBatch, *, live_id: int, product_id: int, buyer_id: int, quantity: int
) -> Claimed | None:
    """Take ``quantity`` units of the live's running deal on ``product_id`` for ``buyer_id``.

    None when the product is not pinned on the live. When it is but no deal is
    running, the answer has no price (the list price applies).
    """
    session = batch.session
    now = utcnow()
    pin = (
        await session.exec(
            select(LivePin)
            .join(Live, col(Live.pin_id) == col(LivePin.id))
            .where(Live.id == live_id, LivePin.product_id == product_id)
        )
    ).first()
    if pin is None or pin.id is None:
        return None
    running = (
        pin.deal_price_cents is not None
        and pin.deal_ended_reason is None
        and pin.deal_ends_at is not None
        and _aware(pin.deal_ends_at) > now
    )
    if not running or pin.deal_price_cents is None:
        return Claimed(pin_id=pin.id, price_cents=None)
    taken = await session.exec(
        update(LivePin)
        .where(col(LivePin.id) == pin.id, col(LivePin.deal_ended_reason).is_(None),
               col(LivePin.deal_remaining) >= quantity)
        .values(deal_remaining=col(LivePin.deal_remaining) - quantity)
        .returning(col(LivePin.deal_remaining))
    )  # fmt: skip
    left = taken.first()
    if left is None:
        await session.refresh(pin)
        raise DealExhausted(
            f"only {pin.deal_remaining} left at the deal price", available=pin.deal_remaining
        )
    limit = pin.deal_per_buyer_limit
    if limit is not None:
        if quantity > limit:
            raise DealLimitReached(f"the deal allows {limit} per buyer", limit=limit)
        insert = upsert_insert(session)
        stmt = insert(DealClaim).values(pin_id=pin.id, buyer_id=buyer_id, quantity=quantity)
        upsert = stmt.on_conflict_do_update(
            index_elements=["pin_id", "buyer_id"],
            set_={"quantity": DealClaim.quantity + stmt.excluded.quantity},
            where=(DealClaim.quantity + stmt.excluded.quantity) <= limit,
        )
        result = await session.exec(upsert)
        if result.rowcount != 1:
            raise DealLimitReached(f"the deal allows {limit} per buyer", limit=limit)
    if left[0] == 0:
        await end_deal(batch, pin, "sold_out")
    return Claimed(pin_id=pin.id, price_cents=pin.deal_price_cents)
