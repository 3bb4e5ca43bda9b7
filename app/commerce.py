"""Where checkout meets the live hub: deal pricing, stock frames, private order frames.

checkout calls the ``DealDesk`` and ``Announcer`` interfaces it defines; this
module implements them on top of ``live`` inside one hub transaction, so an
order, its stock change and the frames announcing them commit together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import orders
from checkout.models import Order
from checkout.ports import DealPrice
from live import deals
from live.frames import Frame
from live.hub import Hub
from live.log import EventBatch
from live.models import Live, LivePin


class LiveDealDesk:
    """``checkout.ports.DealDesk`` over the live package's deals."""

    def __init__(self, batch: EventBatch) -> None:
        self.batch = batch

    async def live_status(self, session: AsyncSession, live_id: int) -> str | None:
        return await deals.live_status(session, live_id)

    async def lives_showing(self, session: AsyncSession, product_id: int) -> list[int]:
        return await deals.lives_showing(session, product_id)

    async def lock_lives(self, session: AsyncSession, live_ids: list[int]) -> None:
        await deals.lock_lives(session, live_ids)

    async def claim(
        self, session: AsyncSession, *, live_id: int, product_id: int, buyer_id: int,
        quantity: int,
    ) -> DealPrice | None:  # fmt: skip
        claimed = await deals.claim(
            self.batch, live_id=live_id, product_id=product_id, buyer_id=buyer_id,
            quantity=quantity,
        )  # fmt: skip
        return None if claimed is None else DealPrice(claimed.pin_id, claimed.price_cents)


@dataclass
class LiveAnnouncer:
    """``checkout.ports.Announcer``: stock frames in the transaction, order frames after it."""

    batch: EventBatch
    hub: Hub
    changed: dict[int, Order] = field(default_factory=dict)

    async def stock_changed(
        self, session: AsyncSession, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        for live_id in live_ids:
            data: dict[str, Any] = {"product_id": product_id, "stock": stock, "sold": sold}
            data["deal_remaining"] = await _deal_remaining(session, live_id, product_id)
            await self.batch.append(live_id, "stock", data)

    def order_changed(self, order: Order) -> None:
        if order.id is not None:
            self.changed[order.id] = order

    async def flush(self, session: AsyncSession) -> None:
        """Send each changed order to its buyer's sockets (after the commit), as read now
        from ``session`` (one consistent moment): status and history always agree."""
        if not self.changed:
            return
        ids = list(self.changed)
        self.changed = {}
        found = await orders.orders_by_id(session, ids)
        history = await orders.histories(session, ids)
        frames = [
            (order.buyer_id, Frame.make("order", order.live_id, {
                "order": orders.order_view(order, history.get(order.id or 0, []))}))
            for order in found
        ]  # fmt: skip
        await self.hub.send_private_many(frames)


async def _deal_remaining(session: AsyncSession, live_id: int, product_id: int) -> int | None:
    row = (
        await session.exec(
            select(LivePin.deal_remaining, LivePin.deal_ended_reason)
            .join(Live, Live.pin_id == LivePin.id)  # type: ignore[arg-type]
            .where(Live.id == live_id, LivePin.product_id == product_id)
        )
    ).first()
    if row is None or row[0] is None or row[1] is not None:
        return None
    return int(row[0])


@dataclass
class CommerceUnit:
    """``checkout.ports.UnitOfWork``: a hub transaction with its deal desk and announcer."""

    session: AsyncSession
    announcer: LiveAnnouncer
    deals: LiveDealDesk


@asynccontextmanager
async def transaction(hub: Hub) -> AsyncIterator[CommerceUnit]:
    """A write transaction for checkout; frames go out once it commits."""
    async with hub.transaction() as batch:
        unit = CommerceUnit(batch.session, LiveAnnouncer(batch, hub), LiveDealDesk(batch))
        yield unit
    if unit.announcer.changed:
        async with hub.sessions.snapshot() as session:
            await unit.announcer.flush(session)
