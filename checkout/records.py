"""Writing a batch's new orders (``checkout.placing``): the orders, their first history
line and outbox rows as plain multi-row INSERTs, and each answer stored under its key."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.attempts import Attempt
from checkout.models import (
    MAIN,
    IdempotencyRecord,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxEntry,
    PaymentStatus,
)
from checkout.orders import EventLike, OrderLike, Placement
from checkout.sla import Calendar
from common.times import utcnow

Render = Callable[[OrderLike, list[EventLike]], str]
"""The answer for a new order (its JSON body), stored under its Idempotency-Key."""


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as just inserted (an ``OrderLike``): cheaper than an ORM object, and all
    a new order's answer, frame and hand-over to fulfillment need."""

    id: int
    buyer_id: int
    product_id: int
    live_id: int | None
    quantity: int
    unit_price_cents: int
    total_cents: int
    currency: str
    shipping: str
    source: str
    created_at: datetime
    status: str = OrderStatus.PLACED.value
    payment_status: str = PaymentStatus.AUTHORIZED.value
    carrier: str | None = None
    tracking_number: str | None = None
    return_reason: str | None = None
    return_info: str | None = None
    ship_by: datetime | None = None
    shipment_id: int | None = None
    warehouse: str = MAIN


# The columns of a new order's row its ``NewOrder`` carries.
_CARRIED = frozenset(f.name for f in fields(NewOrder)) - {"id"}


@dataclass(frozen=True, slots=True)
class NewEvent:
    status: str
    at: datetime
    by: str
    note: str | None = None


async def record(
    session: AsyncSession, placed: list[Attempt], render: Render, *, relayed: bool,
    calendar: Calendar,
) -> list[NewOrder]:  # fmt: skip
    """Insert the orders, their first history entry and outbox rows; store the answers.

    Plain multi-row INSERTs (executemany, compiled once): a flash sale writes many.
    """
    now = utcnow()
    due = {c: calendar.ship_by(now, c) for c in {a.ships_from for a in placed}}
    rows: list[dict[str, Any]] = [
        {"buyer_id": a.req.buyer_id, "product_id": a.req.product_id, "live_id": a.req.live_id,
         "pin_id": a.pin_id, "quantity": a.req.quantity, "unit_price_cents": a.unit_price,
         "total_cents": a.unit_price * a.req.quantity, "currency": a.currency,
         "status": OrderStatus.PLACED.value, "payment_status": PaymentStatus.AUTHORIZED.value,
         "payment_ref": a.payment_ref, "restocked": False, "source": a.req.origin,
         "shipping": json.dumps(a.req.shipping, separators=(",", ":"), ensure_ascii=False),
         "created_at": now, "updated_at": now, "ship_by": due[a.ships_from],
         "warehouse": a.warehouse}
        for a in placed
    ]  # fmt: skip
    conn = await session.connection()
    orders_t = table_of(Order)
    inserted = await conn.execute(
        insert(orders_t).returning(orders_t.c.id, sort_by_parameter_order=True), rows
    )
    ids = [int(i) for i in inserted.scalars().all()]
    await conn.execute(
        insert(table_of(OrderEvent)),
        [{"order_id": i, "status": OrderStatus.PLACED.value, "at": now, "by": a.req.buyer_name}
         for i, a in zip(ids, placed, strict=True)],
    )  # fmt: skip
    await conn.execute(
        insert(table_of(OutboxEntry)),
        [{"order_id": i, "created_at": now, "relayed_at": now if relayed else None,
          "attempts": 0} for i in ids],
    )  # fmt: skip
    new_orders: list[NewOrder] = []
    answers: list[dict[str, Any]] = []
    for order_id, a, row in zip(ids, placed, rows, strict=True):
        order = NewOrder(id=order_id, **{k: v for k, v in row.items() if k in _CARRIED})
        a.history = [NewEvent(OrderStatus.PLACED.value, now, a.req.buyer_name)]
        response = render(order, a.history)
        a.outcome = Placement(order=order, replayed=False, response=response)
        new_orders.append(order)
        answers.append({"b": a.req.buyer_id, "k": a.req.idempotency_key, "o": order_id,
                        "r": response})  # fmt: skip
    keys = table_of(IdempotencyRecord)
    await conn.execute(
        update(keys)
        .where(keys.c.buyer_id == bindparam("b"), keys.c.key == bindparam("k"))
        .values(order_id=bindparam("o"), response=bindparam("r")),
        answers,
    )
    return new_orders


def table_of(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table
