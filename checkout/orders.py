"""Orders: the request, stock moves, reading orders back, their contract view, live sales.

Placing them is ``checkout.placing``; changing their status is ``checkout.states``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import case, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import (
    OrderNotFound,
)
from checkout.models import (
    IdempotencyRecord,
    Order,
    OrderEvent,
    OrderSource,
    OrderStatus,
    Product,
)
from checkout.sla import UNSHIPPED, is_late
from common.sql import get_or_raise, newest_first
from common.times import iso_utc, utcnow

if TYPE_CHECKING:  # checkout.ports imports this module
    from checkout.ports import SavedMethod


@dataclass(frozen=True)
class OrderRequest:
    buyer_id: int
    buyer_name: str
    idempotency_key: str
    product_id: int
    quantity: int
    shipping: dict[str, str]  # where it ships: as sent, or the saved address
    live_id: int | None = None
    # True: ``shipping`` was omitted and is the buyer's saved address.
    shipping_saved: bool = False
    # The buyer's saved payment method, authorized off-session; None: the provider's default.
    method: SavedMethod | None = None
    # How it is bought (``OrderSource``); None: "live" with a live_id, else "direct".
    source: str | None = None

    @property
    def replay(self) -> bool:
        """Bought from the live's replay: at the list price, whatever the live does now."""
        return self.source == OrderSource.REPLAY.value

    @property
    def through(self) -> int | None:
        """The live whose deal and lock the order goes through (None for a replay's)."""
        return None if self.replay else self.live_id

    @property
    def origin(self) -> str:
        """The order's ``source``, given or derived."""
        if self.source is not None:
            return self.source
        return (OrderSource.DIRECT if self.live_id is None else OrderSource.LIVE).value

    def fingerprint(self) -> str:
        """A hash of what was asked (not of how it was spelled): key reuse is checked on it.

        An omitted ``shipping`` hashes as omitted, not as the address it resolved to: the
        same request replays even after the saved address changed."""
        asked: dict[str, object] = {"product_id": self.product_id, "quantity": self.quantity,
                 "live_id": self.live_id,
                 "shipping": None if self.shipping_saved else self.shipping}  # fmt: skip
        if self.replay:  # (only then: the keys of other orders hash as they always did)
            asked["source"] = self.source
        canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class OrderLike(Protocol):
    """What the contract's view of an order reads: a stored ``Order``, or a new one."""

    @property
    def id(self) -> int | None: ...
    @property
    def buyer_id(self) -> int: ...
    @property
    def product_id(self) -> int: ...
    @property
    def live_id(self) -> int | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price_cents(self) -> int: ...
    @property
    def total_cents(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def payment_status(self) -> str: ...
    @property
    def carrier(self) -> str | None: ...
    @property
    def tracking_number(self) -> str | None: ...
    @property
    def shipping(self) -> str: ...
    @property
    def return_reason(self) -> str | None: ...
    @property
    def return_info(self) -> str | None: ...
    @property
    def ship_by(self) -> datetime | None: ...
    @property
    def shipment_id(self) -> int | None: ...
    @property
    def warehouse(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class EventLike(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def by(self) -> str: ...
    @property
    def note(self) -> str | None: ...


@dataclass(frozen=True)
class Placement:
    order: OrderLike
    replayed: bool  # True: the key was seen before; ``response`` is what was answered then
    response: str | None = None


@dataclass(frozen=True)
class StockLine:
    """A product's figures right after a stock change."""

    product_id: int
    stock: int
    sold: int
    price_cents: int
    currency: str


async def move_stock(session: AsyncSession, product_id: int, delta: int) -> StockLine | None:
    """Add ``delta`` to the stock (negative: take) in one statement; None if it would go < 0."""
    result = await session.exec(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) + delta >= 0)
        .values(stock=col(Product.stock) + delta, sold=col(Product.sold) - delta)
        .returning(col(Product.stock), col(Product.sold), col(Product.price_cents),
                   col(Product.currency))
        # Loaded products are not updated in place: callers use the returned figures.
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    row = result.first()
    if row is None:
        return None
    stock, sold, price, currency = row
    return StockLine(product_id, stock, sold, price, currency)


IDEMPOTENCY_TTL = timedelta(hours=48)  # the contract asks for at least 24 hours


async def prune_idempotency_keys(
    session: AsyncSession, older_than: timedelta = IDEMPOTENCY_TTL
) -> int:
    """Forget Idempotency-Keys older than ``older_than``; returns how many."""
    result = await session.exec(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < utcnow() - older_than)
    )
    return int(result.rowcount or 0)


async def get_order(session: AsyncSession, order_id: int) -> Order:
    missing = OrderNotFound("order not found", order_id=order_id)
    return await get_or_raise(session, Order, order_id, missing)


async def list_orders(
    session: AsyncSession,
    *,
    buyer_id: int | None = None,
    status: OrderStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Order]:
    status_value = status.value if status is not None else None
    return await newest_first(
        session, Order, limit=limit, offset=offset, buyer_id=buyer_id, status=status_value
    )


@dataclass(frozen=True)
class Search:
    """What the board asks for: a status, a warehouse, orders late at ``late_at``, and
    orders matching any of an id, a buyer or a tracking number (``q``)."""

    status: OrderStatus | None = None
    warehouse: str | None = None
    late_at: datetime | None = None
    order_id: int | None = None
    buyer_id: int | None = None
    tracking: str | None = None

    @property
    def matching(self) -> bool:
        return any(v is not None for v in (self.order_id, self.buyer_id, self.tracking))


async def search_orders(
    session: AsyncSession, search: Search, *, limit: int, offset: int
) -> Sequence[Order]:
    """One page of the orders ``search`` asks for, newest first."""
    query = select(Order)
    if search.status is not None:
        query = query.where(Order.status == search.status.value)
    if search.warehouse is not None:
        query = query.where(Order.warehouse == search.warehouse)
    if search.late_at is not None:
        query = query.where(
            col(Order.status).in_(sorted(UNSHIPPED)), col(Order.ship_by) < search.late_at
        )
    if search.matching:
        either = []
        if search.order_id is not None:
            either.append(col(Order.id) == search.order_id)
        if search.buyer_id is not None:
            either.append(col(Order.buyer_id) == search.buyer_id)
        if search.tracking is not None:
            either.append(col(Order.tracking_number) == search.tracking)
        query = query.where(or_(*either))
    query = query.order_by(col(Order.id).desc()).limit(limit).offset(offset)
    return (await session.exec(query)).all()


async def count_late(session: AsyncSession, now: datetime) -> int:
    """Orders not shipped and past their ship-by time."""
    query = select(func.count()).where(
        col(Order.status).in_(sorted(UNSHIPPED)), col(Order.ship_by) < now
    )
    return int((await session.exec(query)).one())


async def orders_by_id(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[Order]:
    if not order_ids:
        return []
    query = (
        select(Order)
        .where(col(Order.id).in_(list(order_ids)))
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def histories(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, list[OrderEvent]]:
    if not order_ids:
        return {}
    rows = await session.exec(
        select(OrderEvent)
        .where(col(OrderEvent.order_id).in_(list(order_ids)))
        .order_by(col(OrderEvent.id))
    )
    found: dict[int, list[OrderEvent]] = {i: [] for i in order_ids}
    for row in rows.all():
        found[row.order_id].append(row)
    return found


def _line(e: EventLike) -> dict[str, Any]:
    return {"status": e.status, "at": iso_utc(e.at), "by": e.by, "note": e.note}


def _shipped_at(history: Sequence[EventLike]) -> datetime | None:
    return next((e.at for e in history if e.status == OrderStatus.SHIPPED.value), None)


def order_view(order: OrderLike, history: Sequence[EventLike]) -> dict[str, Any]:
    """The order as the contract shows it."""
    tracking = None
    if order.carrier or order.tracking_number:
        tracking = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    return {
        "id": order.id,
        "buyer_id": order.buyer_id,
        "product_id": order.product_id,
        "live_id": order.live_id,
        "source": order.source,
        "quantity": order.quantity,
        "unit_price_cents": order.unit_price_cents,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "status": order.status,
        "payment_status": order.payment_status,
        "tracking": tracking,
        "shipping": json.loads(order.shipping),
        "return_reason": order.return_reason,
        "return": json.loads(order.return_info) if order.return_info else None,
        "ship_by": iso_utc(order.ship_by) if order.ship_by else None,
        "shipment_id": order.shipment_id,
        "warehouse": order.warehouse,
        "late": is_late(order.status, order.ship_by, _shipped_at(history), utcnow()),
        "history": [_line(e) for e in history],
        "created_at": iso_utc(order.created_at),
    }


@dataclass(frozen=True)
class Sales:
    orders: int
    units: int
    revenue_cents: int


def _sales_rows(live_id: int, *, replay: bool, by: Any) -> Any:
    """Orders of a live (its replay's, or the rest), grouped ``by``: count, units, revenue.
    Cancelled orders do not count; refunded ones count as orders and units, not revenue."""
    counted = col(Order.status) != OrderStatus.CANCELLED.value
    earning = case((col(Order.status) == OrderStatus.REFUNDED.value, 0), else_=Order.total_cents)
    replayed = col(Order.source) == OrderSource.REPLAY.value
    return (
        select(by, func.count(), func.sum(Order.quantity), func.sum(earning))
        .where(Order.live_id == live_id, counted, replayed if replay else ~replayed)
        .group_by(by)
    )


async def live_sales(session: AsyncSession, live_id: int) -> tuple[Sales, dict[int, Sales]]:
    """Sales through a live (not its replay's), in total and per pin."""
    rows = await session.exec(_sales_rows(live_id, replay=False, by=col(Order.pin_id)))
    return _tally(rows.all())


async def replay_sales(session: AsyncSession, live_id: int) -> tuple[Sales, dict[int, Sales]]:
    """Sales from a live's replay page, in total and per product."""
    rows = await session.exec(_sales_rows(live_id, replay=True, by=col(Order.product_id)))
    return _tally(rows.all())


def _tally(rows: Sequence[Any]) -> tuple[Sales, dict[int, Sales]]:
    total = Sales(0, 0, 0)
    per: dict[int, Sales] = {}
    for key, count, units, revenue in rows:
        sales = Sales(int(count), int(units or 0), int(revenue or 0))
        total = Sales(total.orders + sales.orders, total.units + sales.units,
                      total.revenue_cents + sales.revenue_cents)  # fmt: skip
        if key is not None:
            per[key] = sales
    return total, per
