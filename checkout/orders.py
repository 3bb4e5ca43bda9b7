"""Placing orders: oversell-proof, idempotent, priced by a running deal when there is one.

One transaction does it all — the Idempotency-Key row, the stock decrement,
the deal claim, the payment authorization, the order, its history, its
fulfillment outbox entry and the stock announcement — so after any failure
nothing is half-written, and no order exists that fulfillment will not see.

Stock is taken with one conditional statement
(``UPDATE products SET stock = stock - :q WHERE id = :id AND stock >= :q``),
never read-then-write: it cannot oversell on SQLite or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import catalog
from checkout.errors import (
    IdempotencyMismatch,
    InsufficientStock,
    LiveNotOpen,
    OrderNotFound,
    ProductNotFound,
    UnknownLive,
)
from checkout.models import (
    IdempotencyRecord,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxEntry,
    PaymentStatus,
    Product,
    utcnow,
)
from checkout.ports import Announcer, DealDesk, PaymentProvider


@dataclass(frozen=True)
class OrderRequest:
    buyer_id: int
    buyer_name: str
    idempotency_key: str
    product_id: int
    quantity: int
    shipping: dict[str, str]
    live_id: int | None = None

    def fingerprint(self) -> str:
        """A hash of what was asked (not of how it was spelled): key reuse is checked on it."""
        canonical = json.dumps(
            {"product_id": self.product_id, "quantity": self.quantity, "live_id": self.live_id,
             "shipping": self.shipping},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )  # fmt: skip
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Placement:
    order: Order
    replayed: bool  # True: the key was seen before; ``response`` is what was answered then
    response: str | None = None


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _claim_key(session: AsyncSession, req: OrderRequest, digest: str) -> Placement | None:
    """Record the key, or return the earlier answer for it.

    A concurrent request holding the same key makes this INSERT wait (PostgreSQL's
    unique index) or runs strictly before or after it (SQLite), so the loser always
    sees the winner's committed record: one key, one order.
    """
    result = await session.exec(
        _insert(session)(IdempotencyRecord)
        .values(buyer_id=req.buyer_id, key=req.idempotency_key, request_hash=digest,
                created_at=utcnow())
        .on_conflict_do_nothing()
    )  # fmt: skip
    if result.rowcount == 1:
        return None
    record = await session.get(IdempotencyRecord, (req.buyer_id, req.idempotency_key))
    if record is None or record.order_id is None:  # pragma: no cover - see docstring
        raise IdempotencyMismatch("this Idempotency-Key is in use by another request")
    if record.request_hash != digest:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
    order = await session.get(Order, record.order_id)
    if order is None:  # pragma: no cover - orders are never deleted
        raise OrderNotFound("order not found")
    return Placement(order=order, replayed=True, response=record.response)


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
    )  # fmt: skip
    row = result.first()
    if row is None:
        return None
    stock, sold, price, currency = row
    return StockLine(product_id, stock, sold, price, currency)


async def take_stock(session: AsyncSession, product_id: int, quantity: int) -> StockLine:
    """Take ``quantity`` units in one statement, or raise InsufficientStock (404 if unknown)."""
    line = await move_stock(session, product_id, -quantity)
    if line is None:
        product = await catalog.get_product(session, product_id)
        raise InsufficientStock(
            f"only {product.stock} left", product_id=product_id, available=product.stock
        )
    return line


async def quick_refusal(session: AsyncSession, req: OrderRequest) -> None:
    """Refuse without a write transaction when the answer is already certain: the key is
    new and the stock is short. During a sell-out most requests end here, cheaply, instead
    of queueing for the stock row behind the buyers who do get a unit. (A key seen before
    always goes the full way, so its replay is answered.)"""
    if await session.get(IdempotencyRecord, (req.buyer_id, req.idempotency_key)) is not None:
        return
    stock = (await session.exec(select(Product.stock).where(Product.id == req.product_id))).first()
    if stock is None:
        raise ProductNotFound("product not found", product_id=req.product_id)
    if stock < req.quantity:
        raise InsufficientStock(f"only {stock} left", product_id=req.product_id, available=stock)


async def place_order(
    session: AsyncSession,
    req: OrderRequest,
    *,
    deals: DealDesk,
    announcer: Announcer,
    payments: PaymentProvider,
    relayed: bool = False,
) -> Placement:
    """Place an order, or replay the one already placed with this Idempotency-Key.

    ``relayed`` marks the outbox entry as handed to the queue already (the caller
    will put it on the Redis stream right after commit).
    """
    digest = req.fingerprint()
    earlier = await _claim_key(session, req, digest)
    if earlier is not None:
        return earlier
    if req.live_id is not None:
        status = await deals.live_status(session, req.live_id)
        if status is None:
            raise UnknownLive("no such live", live_id=req.live_id)
        if status != "live":
            raise LiveNotOpen(f"the live is {status}: orders through it are closed")
    listed = await catalog.get_product(session, req.product_id)  # 404 when unknown
    live_ids = set(await deals.lives_showing(session, req.product_id))
    if req.live_id is not None:
        live_ids.add(req.live_id)
    lives = sorted(live_ids)
    # Lock order, everywhere: lives, then their pins, then products (no deadlocks).
    await deals.lock_lives(session, lives)
    unit_price, pin_id = listed.price_cents, None
    if req.live_id is not None:
        deal = await deals.claim(
            session, live_id=req.live_id, product_id=req.product_id, buyer_id=req.buyer_id,
            quantity=req.quantity,
        )  # fmt: skip
        if deal is not None:
            pin_id = deal.pin_id
            if deal.unit_price_cents is not None:
                unit_price = deal.unit_price_cents
    total = unit_price * req.quantity
    payment_ref = await payments.authorize(
        total, listed.currency, f"livecart:{req.buyer_id}:{req.idempotency_key}"
    )
    # The stock row is locked last, so concurrent buyers wait on it as briefly as can be.
    try:
        product = await take_stock(session, req.product_id, req.quantity)
    except InsufficientStock:
        await payments.void(payment_ref)
        raise
    now = utcnow()
    order = Order(
        buyer_id=req.buyer_id, product_id=req.product_id, live_id=req.live_id, pin_id=pin_id,
        quantity=req.quantity, unit_price_cents=unit_price, total_cents=total,
        currency=product.currency, status=OrderStatus.PLACED.value,
        payment_status=PaymentStatus.AUTHORIZED.value, payment_ref=payment_ref,
        shipping=json.dumps(req.shipping, separators=(",", ":"), ensure_ascii=False),
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    order_id = order.id or 0
    session.add(OrderEvent(order_id=order_id, status=OrderStatus.PLACED.value, at=now,
                           by=req.buyer_name))  # fmt: skip
    session.add(OutboxEntry(order_id=order_id, created_at=now, relayed_at=now if relayed else None))
    await announcer.stock_changed(session, product.product_id, product.stock, product.sold, lives)
    announcer.order_changed(order)
    await session.flush()
    return Placement(order=order, replayed=False)


async def remember_response(
    session: AsyncSession, req: OrderRequest, order_id: int, response: str
) -> None:
    """Store the answer under the key, in the placing transaction."""
    await session.exec(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.buyer_id) == req.buyer_id,
               col(IdempotencyRecord.key) == req.idempotency_key)
        .values(order_id=order_id, response=response)
    )  # fmt: skip


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
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound("order not found", order_id=order_id)
    return order


async def list_orders(
    session: AsyncSession,
    *,
    buyer_id: int | None = None,
    status: OrderStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Order]:
    query = select(Order)
    if buyer_id is not None:
        query = query.where(Order.buyer_id == buyer_id)
    if status is not None:
        query = query.where(Order.status == status.value)
    query = query.order_by(col(Order.id).desc()).limit(limit).offset(offset)
    return (await session.exec(query)).all()


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


def iso(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive datetimes, stored as UTC
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def order_view(order: Order, history: Sequence[OrderEvent]) -> dict[str, Any]:
    """The order as the contract shows it."""
    tracking = None
    if order.carrier or order.tracking_number:
        tracking = {"carrier": order.carrier, "tracking_number": order.tracking_number}
    return {
        "id": order.id,
        "buyer_id": order.buyer_id,
        "product_id": order.product_id,
        "live_id": order.live_id,
        "quantity": order.quantity,
        "unit_price_cents": order.unit_price_cents,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "status": order.status,
        "payment_status": order.payment_status,
        "tracking": tracking,
        "shipping": json.loads(order.shipping),
        "return_reason": order.return_reason,
        "history": [{"status": e.status, "at": iso(e.at), "by": e.by} for e in history],
        "created_at": iso(order.created_at),
    }


@dataclass(frozen=True)
class Sales:
    orders: int
    units: int
    revenue_cents: int


async def live_sales(session: AsyncSession, live_id: int) -> tuple[Sales, dict[int, Sales]]:
    """Sales through a live, in total and per pin. Cancelled orders do not count;
    refunded ones count as orders and units but not as revenue."""
    counted = col(Order.status) != OrderStatus.CANCELLED.value
    earning = case((col(Order.status) == OrderStatus.REFUNDED.value, 0), else_=Order.total_cents)
    rows = await session.exec(
        select(Order.pin_id, func.count(), func.sum(Order.quantity), func.sum(earning))
        .where(Order.live_id == live_id, counted)
        .group_by(col(Order.pin_id))
    )
    total = Sales(0, 0, 0)
    per_pin: dict[int, Sales] = {}
    for pin_id, count, units, revenue in rows.all():
        sales = Sales(int(count), int(units or 0), int(revenue or 0))
        total = Sales(total.orders + sales.orders, total.units + sales.units,
                      total.revenue_cents + sales.revenue_cents)  # fmt: skip
        if pin_id is not None:
            per_pin[pin_id] = sales
    return total, per_pin
