"""Pins and flash deals: one product pinned per live at a time, with an optional deal.

Every change locks the live's row first (``FOR UPDATE`` on PostgreSQL; SQLite
write transactions are already serialised by ``BEGIN IMMEDIATE``), changes
state and appends its events in the same transaction. A deal ends exactly once
— expired, sold out or unpinned — because ending it is a conditional UPDATE
that only one transaction can win, whatever the number of processes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import upsert_insert
from common.times import iso_utc, utc, utcnow
from live.errors import ForeignProduct, InvalidState, KeywordInUse, LiveNotFound
from live.log import EventBatch
from live.models import Giveaway, Live, LiveBagItem, LivePin, LiveStatus


@dataclass(frozen=True)
class ProductCard:
    """What the live shows of a product; built by the caller (live never reads products)."""

    id: int
    creator_id: int
    card: dict[str, Any]  # {id, title, price_cents, currency, image_url, url, stock}


@dataclass(frozen=True)
class DealRequest:
    """The flash deal a creator asks for when pinning (validated by the caller)."""

    price_cents: int
    quantity: int
    duration_s: int
    per_buyer_limit: int | None = None


@dataclass(frozen=True)
class Actor:
    id: int
    username: str


def deal_active(pin: LivePin) -> bool:
    return pin.deal_quantity is not None and pin.deal_ended_reason is None


def deal_view(pin: LivePin) -> dict[str, Any] | None:
    """The deal as clients see it, or None when there is none or it has ended."""
    if not deal_active(pin) or pin.deal_ends_at is None:
        return None
    return {
        "price_cents": pin.deal_price_cents,
        "quantity": pin.deal_quantity,
        "remaining": pin.deal_remaining,
        "per_buyer_limit": pin.deal_per_buyer_limit,
        "ends_at": iso_utc(pin.deal_ends_at),
    }


def pinned_view(pin: LivePin, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{product, deal, by}``: the pinned event's data; ``card`` overrides the stored card."""
    return {
        "product": card if card is not None else json.loads(pin.card),
        "deal": deal_view(pin),
        "by": {"id": pin.pinned_by, "username": pin.pinned_by_name},
        "claim_keyword": pin.claim_keyword,
    }


async def lock_live(session: AsyncSession, live_id: int) -> Live:
    live = (await session.exec(select(Live).where(Live.id == live_id).with_for_update())).first()
    if live is None:
        raise LiveNotFound("live not found", live_id=live_id)
    return live


async def current_pin(session: AsyncSession, live: Live) -> LivePin | None:
    return None if live.pin_id is None else await session.get(LivePin, live.pin_id)


async def end_deal(batch: EventBatch, pin: LivePin, reason: str) -> bool:
    """End the pin's deal with ``reason`` if it is still running; True if this call ended it."""
    result = await batch.session.exec(
        update(LivePin)
        .where(col(LivePin.id) == pin.id, col(LivePin.deal_quantity).is_not(None),
               col(LivePin.deal_ended_reason).is_(None))
        .values(deal_ended_reason=reason)
    )  # fmt: skip
    if result.rowcount != 1:
        return False
    pin.deal_ended_reason = reason
    await batch.append(pin.live_id, "deal_ended", {"product_id": pin.product_id, "reason": reason})
    return True


async def _take_down(batch: EventBatch, live: Live, *, announce: bool) -> LivePin | None:
    """Unpin the current product (ending its deal); append ``unpinned`` if ``announce``."""
    pin = await current_pin(batch.session, live)
    if pin is None:
        return None
    await end_deal(batch, pin, "unpinned")
    pin.unpinned_at = utcnow()
    live.pin_id = None
    batch.session.add_all([pin, live])
    await batch.session.flush()
    if announce:
        await batch.append(pin.live_id, "unpinned", {"product_id": pin.product_id})
    return pin


async def pin(
    batch: EventBatch,
    live_id: int,
    product: ProductCard,
    by: Actor,
    deal: DealRequest | None = None,
    claim_keyword: str | None = None,
) -> dict[str, Any]:
    """Pin ``product`` (replacing any current pin), add it to the bag; return the pinned data.
    With ``claim_keyword``, chatting it claims the product (``live.claims``)."""
    session = batch.session
    live = await lock_live(session, live_id)
    if live.status != LiveStatus.LIVE:
        raise InvalidState(f"products can only be pinned while live (it is {live.status})")
    if product.creator_id != live.creator_id:
        raise ForeignProduct("only the live creator's own products can be pinned")
    if claim_keyword is not None and await _giveaway_keyword(session, live_id, claim_keyword):
        raise KeywordInUse("the open giveaway enters with that keyword: choose another")
    await _take_down(batch, live, announce=False)
    now = utcnow()
    row = LivePin(
        live_id=live_id,
        product_id=product.id,
        pinned_by=by.id,
        pinned_by_name=by.username,
        pinned_at=now,
        card=json.dumps(product.card, separators=(",", ":")),
        claim_keyword=claim_keyword,
    )
    if deal is not None:
        row.deal_price_cents = deal.price_cents
        row.deal_quantity = deal.quantity
        row.deal_remaining = deal.quantity
        row.deal_per_buyer_limit = deal.per_buyer_limit
        row.deal_ends_at = now + timedelta(seconds=deal.duration_s)
    session.add(row)
    await session.flush()
    live.pin_id = row.id
    session.add(live)
    insert = upsert_insert(session)
    await session.exec(
        insert(LiveBagItem)
        .values(live_id=live_id, product_id=product.id, added_at=now)
        .on_conflict_do_nothing()
    )
    data = pinned_view(row, product.card)
    await batch.append(live_id, "pinned", data)
    return data


async def _giveaway_keyword(session: AsyncSession, live_id: int, keyword: str) -> bool:
    """Whether ``keyword`` is the live's open giveaway's (any case)."""
    query = select(Giveaway.id).where(
        Giveaway.live_id == live_id, Giveaway.status == "open",
        func.lower(col(Giveaway.keyword)) == keyword.lower(),
    )  # fmt: skip
    return (await session.exec(query)).first() is not None


async def unpin(batch: EventBatch, live_id: int) -> bool:
    """Take the pinned product down; False when nothing was pinned."""
    live = await lock_live(batch.session, live_id)
    if live.status != LiveStatus.LIVE:
        raise InvalidState(f"nothing can be unpinned on a live that is {live.status}")
    return await _take_down(batch, live, announce=True) is not None


async def close_live(batch: EventBatch, live: Live) -> None:
    """Called as a live ends: unpin (ending any deal) so an ended live shows nothing pinned."""
    await _take_down(batch, live, announce=True)


async def expire_due_deals(batch: EventBatch, now: datetime | None = None) -> int:
    """End every deal whose time is up; returns how many this call ended."""
    now = now or utcnow()
    due = await batch.session.exec(
        select(LivePin).where(
            col(LivePin.deal_ended_reason).is_(None),
            col(LivePin.deal_ends_at).is_not(None),
            col(LivePin.deal_ends_at) <= now,
        )
    )
    ended = 0
    for row in due.all():
        # Lock order everywhere: the live's row first, then its pins (no deadlocks).
        await lock_live(batch.session, row.live_id)
        ended += await end_deal(batch, row, "expired")
    return ended


async def next_deal_deadline(session: AsyncSession) -> datetime | None:
    result = await session.exec(
        select(func.min(LivePin.deal_ends_at)).where(col(LivePin.deal_ended_reason).is_(None))
    )
    value = result.first()
    return None if value is None else utc(value)


async def pins_of(session: AsyncSession, live_id: int) -> Sequence[LivePin]:
    query = select(LivePin).where(LivePin.live_id == live_id).order_by(col(LivePin.id))
    return (await session.exec(query)).all()


async def in_bag(session: AsyncSession, live_id: int, product_id: int) -> bool:
    return await session.get(LiveBagItem, (live_id, product_id)) is not None


async def bag_product_ids(session: AsyncSession, live_id: int) -> list[int]:
    query = (
        select(LiveBagItem.product_id)
        .where(LiveBagItem.live_id == live_id)
        .order_by(col(LiveBagItem.added_at))
    )
    return list((await session.exec(query)).all())
