"""Where checkout meets the live hub: deal pricing, stock frames, private order frames.

checkout calls the ``DealDesk`` and ``Announcer`` interfaces it defines; this
module implements them on top of ``live`` inside one hub transaction, so an
order, its stock change and the frames announcing them commit together.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.schemas import OrderEnvelope, OrderOut
from checkout import orders
from checkout.desk import OnPlaced
from checkout.errors import DealLimitExceeded, InsufficientStock
from checkout.orders import EventLike, OrderLike
from checkout.ports import DealTerms
from checkout.queue import LocalConsumer, StreamQueue
from live import deals
from live.errors import DealExhausted, DealLimitReached
from live.frames import Frame
from live.hub import Hub
from live.log import EventBatch
from live.models import Live, LivePin

log = logging.getLogger("livecart.orders")


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

    async def terms(
        self, session: AsyncSession, live_id: int, product_id: int, buyer_ids: list[int]
    ) -> DealTerms:
        found = await deals.terms(session, live_id, product_id, buyer_ids)
        return DealTerms(found.pin_id, found.price_cents, found.remaining,
                         found.per_buyer_limit, found.claimed, found.ends_at)  # fmt: skip

    async def take(
        self, session: AsyncSession, live_id: int, pin_id: int, per_buyer: dict[int, int]
    ) -> int:
        try:
            return await deals.take(self.batch, live_id, pin_id, per_buyer)
        except DealExhausted as exc:
            raise InsufficientStock(exc.message, **exc.data) from None
        except DealLimitReached as exc:
            raise DealLimitExceeded(exc.message, **exc.data) from None

    async def sold_out(self, session: AsyncSession, pin_id: int) -> None:
        await deals.sold_out(self.batch, pin_id)


@dataclass
class LiveAnnouncer:
    """``checkout.ports.Announcer``: stock frames in the transaction, order frames after it."""

    batch: EventBatch
    hub: Hub
    changed: dict[int, OrderLike] = field(default_factory=dict)
    known: dict[int, list[EventLike]] = field(default_factory=dict)

    async def stock_changed(
        self, session: AsyncSession, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        await self.stock_runs(session, product_id, [(stock, sold, None)], live_ids)

    async def stock_runs(
        self,
        session: AsyncSession,
        product_id: int,
        figures: list[tuple[int, int, dict[int, int | None] | None]],
        live_ids: list[int],
    ) -> None:
        for live_id in live_ids:
            read: int | None = None
            if any(given is None or live_id not in given for _s, _o, given in figures):
                read = await _deal_remaining(session, live_id, product_id)
            items: list[tuple[str, dict[str, Any]]] = []
            for stock, sold, given in figures:
                left = given[live_id] if given is not None and live_id in given else read
                items.append(("stock", {"product_id": product_id, "stock": stock, "sold": sold,
                                        "deal_remaining": left}))  # fmt: skip
            await self.batch.append_many(live_id, items)

    def order_changed(self, order: OrderLike, history: list[EventLike] | None = None) -> None:
        if order.id is None:
            return
        self.changed[order.id] = order
        if history is not None:
            self.known[order.id] = history
        else:
            self.known.pop(order.id, None)

    @property
    def must_read(self) -> bool:
        """Some changed orders have to be read back after the commit."""
        return any(order_id not in self.known for order_id in self.changed)

    async def flush(self, session: AsyncSession | None) -> None:
        """Send each changed order to its buyer's sockets (after the commit). New orders
        go as they were written; others as read now from ``session`` (one consistent
        moment), so status and history always agree."""
        if not self.changed:
            return
        changed, known = self.changed, self.known
        self.changed, self.known = {}, {}
        views: dict[int, tuple[OrderLike, Sequence[EventLike]]] = {
            i: (changed[i], history) for i, history in known.items()
        }
        unknown = [i for i in changed if i not in known]
        if unknown and session is not None:
            history = await orders.histories(session, unknown)
            for order in await orders.orders_by_id(session, unknown):
                views[order.id or 0] = (order, history.get(order.id or 0, []))
        frames = [
            (order.buyer_id, Frame.make("order", order.live_id,
                                        {"order": orders.order_view(order, events)}))
            for order, events in views.values()
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
    try:
        if unit.announcer.must_read:
            async with hub.sessions.snapshot() as session:
                await unit.announcer.flush(session)
        else:
            await unit.announcer.flush(None)
    except Exception as exc:  # committed already: the buyer still sees it with GET
        log.warning("order frames after a commit were not sent: %r", exc)


def order_answer(order: OrderLike, history: list[EventLike]) -> str:
    """The 201 body for a new order; stored under its Idempotency-Key for replays."""
    view = OrderOut.model_validate(orders.order_view(order, history))
    return OrderEnvelope(order=view).model_dump_json()


def hand_over(queue: StreamQueue | None, local: LocalConsumer | None) -> OnPlaced:
    """After commit: new orders onto the Redis stream, or a nudge to the local consumer."""

    async def to_fulfillment(placed: Sequence[OrderLike]) -> None:
        ids = [order.id or 0 for order in placed]
        if local is not None:
            local.poke()
        if queue is None:
            return
        try:
            await queue.push(ids)
        except Exception as exc:  # Redis unreachable: the relay takes them once it is back
            log.warning("orders %s not pushed to the queue (%r); left to the relay", ids, exc)
            try:
                await queue.unmark(ids)
            except Exception:  # the outbox still has them: resent after redeliver_after
                log.exception("could not hand orders %s back to the relay", ids)

    return to_fulfillment
