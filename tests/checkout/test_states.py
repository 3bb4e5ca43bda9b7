"""The order status machine and its side effects, straight against checkout/states.py.

Every (from, to) pair of statuses is tried on a real database, each in a transaction
rolled back afterwards: allowed moves change the status, write a history line and make
exactly the payment call the table names (on the built-in TestPaymentProvider, which
records every call); refused ones raise ``InvalidTransition`` and touch nothing. The
table is written out here, not derived from ``TRANSITIONS``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.accounts import Role, create_user
from app.db import Database
from checkout.errors import InvalidTransition, TrackingRequired
from checkout.models import MAIN, Inventory, Order, OrderEvent, OrderStatus, Product
from checkout.payments import TestPaymentProvider
from checkout.sla import UNSHIPPED
from checkout.states import Change, Effects, transition

ALLOWED: dict[str, set[str]] = {
    "placed": {"accepted", "cancelled"},
    "accepted": {"picking", "cancelled"},
    "picking": {"packed", "cancelled"},
    "packed": {"shipped", "cancelled"},
    "shipped": {"delivered"},
    "delivered": {"return_requested"},
    "return_requested": {"returned"},
    "returned": {"refunded"},
    "refunded": set(),
    "cancelled": set(),
}
# The payment call a move makes, and the order's payment status after it.
PAYMENT: dict[str, tuple[str, str]] = {
    "shipped": ("capture", "captured"),
    "cancelled": ("void", "voided"),
    "refunded": ("refund", "refunded"),
}
RESTOCKING = {"cancelled", "returned"}
STATUSES = [s.value for s in OrderStatus]
QUANTITY, STOCK, REF = 2, 7, "pay-ref-1"


class NoLiveDesk:
    """A DealDesk for a product no live shows: transitions never price or take deals."""

    def __init__(self) -> None:
        self.locked: list[list[int]] = []

    async def live_status(self, session: AsyncSession, live_id: int) -> str | None:
        return None

    async def lives_showing(self, session: AsyncSession, product_id: int) -> list[int]:
        return []

    async def shown_on(self, session: AsyncSession, live_id: int, product_id: int) -> bool:
        return False

    async def lock_lives(self, session: AsyncSession, live_ids: list[int]) -> None:
        self.locked.append(live_ids)

    async def terms(self, *args: Any) -> Any:
        raise AssertionError("a transition priced a deal")

    async def take(self, live_id: int, pin_id: int, per_buyer: dict[int, int]) -> int:
        raise AssertionError("a transition took deal units")

    async def sold_out(self, pin_id: int) -> None:
        raise AssertionError("a transition ended a deal")


class RecordingAnnouncer:
    """An Announcer that remembers what it was told."""

    def __init__(self) -> None:
        self.stock: list[tuple[int, int, int, list[int]]] = []
        self.orders: list[str] = []

    async def stock_changed(
        self, product_id: int, stock: int, sold: int, live_ids: list[int]
    ) -> None:
        self.stock.append((product_id, stock, sold, live_ids))

    async def stock_runs(self, *args: Any) -> None:
        raise AssertionError("a transition announced order runs")

    def order_changed(self, order: Any, history: Any = None) -> None:
        self.orders.append(order.status)

    def tell(self, user_id: int, type_: str, data: Any) -> None:
        raise AssertionError("a transition told a buyer something")


class Undo(Exception):
    """Raised to roll a tried transition back."""


async def order_in(db: Database, status: str, *, restocked: bool = False) -> tuple[int, int]:
    """An order of ``QUANTITY`` units in ``status``: (order id, product id)."""
    async with db.write() as session:
        user = await create_user(session, "buyer", "password123", Role.VIEWER)
        product = Product(creator_id=user.id, title="Mug", price_cents=1299, stock=STOCK)
        session.add(product)
        await session.flush()
        assert product.id is not None
        # The units of an order not shipped yet are on MAIN's shelf, allocated to it.
        held = QUANTITY if status in UNSHIPPED and not restocked else 0
        session.add(Inventory(product_id=product.id, warehouse=MAIN, on_hand=STOCK + held,
                              allocated=held))  # fmt: skip
        order = Order(
            buyer_id=user.id, product_id=product.id, quantity=QUANTITY, unit_price_cents=1299,
            total_cents=1299 * QUANTITY, currency="USD", status=status, payment_ref=REF,
            shipping="{}", restocked=restocked,
        )  # fmt: skip
        session.add(order)
        await session.flush()
        assert order.id is not None
        return order.id, product.id


async def attempt(db: Database, order_id: int, product_id: int, to: str) -> dict[str, Any]:
    """Try ``to`` in a transaction that is then rolled back; what happened."""
    payments, announcer = TestPaymentProvider(), RecordingAnnouncer()
    effects = Effects(payments, NoLiveDesk(), announcer)
    seen: dict[str, Any] = {}
    try:
        async with db.write() as session:
            try:
                order = await transition(
                    session, order_id, OrderStatus(to), by="sam", effects=effects,
                    change=Change(carrier="UPS", tracking_number="1Z999"),
                )  # fmt: skip
            except InvalidTransition as exc:
                seen["refused"] = sorted(exc.data["allowed"])
                raise Undo from exc
            events = await session.exec(
                select(OrderEvent).where(col(OrderEvent.order_id) == order_id)
            )  # fmt: skip
            product = await session.get(Product, product_id)
            assert product is not None
            seen.update(
                status=order.status, payment_status=order.payment_status,
                history=[(e.status, e.by) for e in events.all()],
                restocked=product.stock - STOCK, announced=announcer.orders,
                stock_frames=[line[1:3] for line in announcer.stock],
            )  # fmt: skip
            raise Undo
    except Undo:
        pass
    seen["payments"] = list(payments.calls)
    return seen


def expected(source: str, to: str) -> dict[str, Any]:
    if to not in ALLOWED[source]:
        return {"refused": sorted(ALLOWED[source]), "payments": []}
    call, paid = PAYMENT.get(to, (None, "authorized"))
    back = QUANTITY if to in RESTOCKING else 0
    return {
        "status": to,
        "payment_status": paid,
        "payments": [(call, REF)] if call else [],
        "history": [(to, "sam")],
        "restocked": back,
        "announced": [to],
        "stock_frames": [(STOCK + back, -back)] if back else [],
    }


@pytest.mark.parametrize("source", STATUSES)
async def test_every_move_from_a_status(db: Database, source: str) -> None:
    order_id, product_id = await order_in(db, source)
    got = {to: await attempt(db, order_id, product_id, to) for to in STATUSES}
    assert got == {to: expected(source, to) for to in STATUSES}
    async with db.read() as session:  # every try was rolled back
        order = await session.get(Order, order_id)
        assert order is not None and order.status == source


async def test_units_come_back_once(db: Database) -> None:
    """An order whose units already came back is not restocked again (still voided)."""
    order_id, product_id = await order_in(db, "packed", restocked=True)
    got = await attempt(db, order_id, product_id, "cancelled")
    assert (got["status"], got["payment_status"], got["payments"]) == (
        "cancelled", "voided", [("void", REF)]
    )  # fmt: skip
    assert (got["restocked"], got["stock_frames"]) == (0, [])


async def test_shipping_without_tracking_captures_nothing(db: Database) -> None:
    order_id, _ = await order_in(db, "packed")
    payments = TestPaymentProvider()
    effects = Effects(payments, NoLiveDesk(), RecordingAnnouncer())
    with pytest.raises(TrackingRequired):
        async with db.write() as session:
            await transition(
                session, order_id, OrderStatus.SHIPPED, by="sam", effects=effects,
                change=Change(carrier="UPS"),
            )  # fmt: skip
    assert not payments.calls
    async with db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None and (order.status, order.payment_status) == (
            "packed", "authorized"
        )  # fmt: skip
