"""The adapters implementing ``checkout.ports`` on top of ``live``.

checkout calls the ``DealDesk`` and ``Announcer`` interfaces it defines; this
module implements them inside one publisher transaction (``live.publisher``), so
an order, its stock change and the frames announcing them commit together.
``Commerce`` is built once per process (by the app's lifespan, or the worker);
its ``transaction`` is checkout's ``Transactions``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import orders
from checkout.errors import DealLimitExceeded, InsufficientStock
from checkout.orders import EventLike, OrderLike
from checkout.sla import Calendar
from checkout.webhook_events import EventSink, Subscriptions
from common.deals import DealTerms
from live import deals, pins
from live.errors import DealExhausted, DealLimitReached
from live.frames import Frame
from live.log import EventBatch
from live.publisher import Publisher

log = logging.getLogger("livecart.orders")


class LiveDealDesk:
    """``checkout.ports.DealDesk`` over the live package's deals."""

    def __init__(self, batch: EventBatch) -> None:
        self.batch = batch

    async def live_status(self, session: AsyncSession, live_id: int) -> str | None:
        return await deals.live_status(session, live_id)

    async def lives_showing(self, session: AsyncSession, product_id: int) -> list[int]:
        return await deals.lives_showing(session, product_id)

    async def shown_on(self, session: AsyncSession, live_id: int, product_id: int) -> bool:
        return await pins.in_bag(session, live_id, product_id)

    async def lock_lives(self, session: AsyncSession, live_ids: list[int]) -> None:
        await deals.lock_lives(session, live_ids)

    async def terms(
        self, session: AsyncSession, live_id: int, product_id: int, buyer_ids: list[int]
    ) -> DealTerms:
        return await deals.terms(session, live_id, product_id, buyer_ids)

    async def take(self, live_id: int, pin_id: int, per_buyer: dict[int, int]) -> int:
        try:
            return await deals.take(self.batch, live_id, pin_id, per_buyer)
        except DealExhausted as exc:
            raise InsufficientStock(exc.message, **exc.data) from None
        except DealLimitReached as exc:
            raise DealLimitExceeded(exc.message, **exc.data) from None

    async def sold_out(self, pin_id: int) -> None:
        await deals.sold_out(self.batch, pin_id)


@dataclass
class LiveAnnouncer:
    """``checkout.ports.Announcer``: stock frames in the transaction, order frames after it."""

    batch: EventBatch
    publisher: Publisher
    sink: EventSink | None = None  # webhook events, written before the commit
    changed: dict[int, OrderLike] = field(default_factory=dict)
    known: dict[int, list[EventLike]] = field(default_factory=dict)
    notices: list[tuple[int, Frame]] = field(default_factory=list)

    async def stock_changed(
        self, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        await self.stock_runs(product_id, [(stock, sold, None)], live_ids)

    async def stock_runs(
        self,
        product_id: int,
        figures: list[tuple[int, int, dict[int, int | None] | None]],
        live_ids: list[int],
    ) -> None:
        if self.sink is not None and figures:
            self.sink.stock_changed(product_id, figures[-1][0], figures[-1][1])
        for live_id in live_ids:
            read: int | None = None
            if any(given is None or live_id not in given for _s, _o, given in figures):
                read = await deals.remaining(self.batch.session, live_id, product_id)
            items: list[tuple[str, dict[str, Any]]] = []
            for stock, sold, given in figures:
                left = given[live_id] if given is not None and live_id in given else read
                items.append(("stock", {"product_id": product_id, "stock": stock, "sold": sold,
                                        "deal_remaining": left}))  # fmt: skip
            await self.batch.append_many(live_id, items)

    def tell(self, user_id: int, type_: str, data: dict[str, Any]) -> None:
        self.notices.append((user_id, Frame.make(type_, None, data)))

    def order_changed(self, order: OrderLike, history: list[EventLike] | None = None) -> None:
        if order.id is None:
            return
        if self.sink is not None:
            self.sink.order(order, history)
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
        """Send each changed order to its buyer's sockets and the staff board's (after the
        commit). New orders go as they were written; others as read now from ``session``
        (one consistent moment), so status and history always agree."""
        notices, self.notices = self.notices, []
        if notices:
            await self.publisher.send_private_many(notices)
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
        await self.publisher.send_orders(frames)


@dataclass
class CommerceUnit:
    """``checkout.ports.UnitOfWork``: a publisher transaction with its deal desk and announcer."""

    session: AsyncSession
    announcer: LiveAnnouncer
    deals: LiveDealDesk
    calendar: Calendar


class Commerce:
    """The checkout ports over one process's ``Publisher`` (the hub's in a web process)."""

    def __init__(
        self, publisher: Publisher, calendar: Calendar | None = None,
        subscriptions: Subscriptions | None = None,
    ) -> None:  # fmt: skip
        self.publisher = publisher
        self.calendar = calendar or Calendar()  # when the orders placed here are due
        self.subscriptions = subscriptions or Subscriptions()  # who takes webhooks

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[CommerceUnit]:
        """``checkout.ports.Transactions``: a write transaction for checkout; its stock
        frames are published once it commits, then its order frames to their buyers."""
        async with self.publisher.transaction() as batch:
            sink = EventSink(self.subscriptions)
            unit = CommerceUnit(
                batch.session,
                LiveAnnouncer(batch, self.publisher, sink),
                LiveDealDesk(batch),
                self.calendar,
            )
            yield unit
            await sink.write(batch.session)  # webhook deliveries commit with the change
        try:
            if unit.announcer.must_read:
                async with self.publisher.sessions.snapshot() as session:
                    await unit.announcer.flush(session)
            else:
                await unit.announcer.flush(None)
        except Exception as exc:  # committed already: the buyer still sees it with GET
            log.warning("order frames after a commit were not sent: %r", exc)
