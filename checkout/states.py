"""The order status machine, enforced here and nowhere else.

    placed → accepted → picking → packed → shipped → delivered
           → return_requested → returned → refunded
    cancelled from placed | accepted | picking | packed

Every change is one conditional UPDATE (``WHERE status = :from``), so two
racing changes cannot both apply; each appends a history line with time and
actor. Side effects ride on the same transaction: payment capture at
``shipped``, void at ``cancelled``, refund at ``refunded``, and a restock at
``cancelled`` and ``returned`` guarded by the order's ``restocked`` flag, so
units come back exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import InvalidTransition, OrderNotFound, TrackingRequired
from checkout.models import Order, OrderEvent, OrderStatus, OutboxEntry, PaymentStatus
from checkout.ports import Announcer, DealDesk, PaymentProvider
from checkout.stock import lock_showing, move_and_tell
from checkout.waitlist import Serving, Unit, serve
from common.times import utcnow

S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLACED: frozenset({S.ACCEPTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PICKING, S.CANCELLED}),
    S.PICKING: frozenset({S.PACKED, S.CANCELLED}),
    S.PACKED: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.RETURN_REQUESTED}),
    S.RETURN_REQUESTED: frozenset({S.RETURNED}),
    S.RETURNED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Only the fulfillment queue accepts orders; staff move them on from there.
QUEUE_ONLY = frozenset({S.ACCEPTED})
RESTOCKING = frozenset({S.CANCELLED, S.RETURNED})
QUEUE_ACTOR = "fulfillment"


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    query = (
        select(Order)
        .where(col(Order.id) == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    order = (await session.exec(query)).first()
    if order is None:
        raise OrderNotFound("order not found", order_id=order_id)
    return order


def allowed_next(status: str) -> list[str]:
    return sorted(s.value for s in TRANSITIONS[OrderStatus(status)])


class Effects:
    """What a transition needs besides the database: payments, deals (locks), announcements;
    ``serving``: units put back go to the product's waitlist first (``checkout.waitlist``)."""

    def __init__(
        self,
        payments: PaymentProvider,
        deals: DealDesk,
        announcer: Announcer,
        serving: Serving | None = None,
    ) -> None:
        self.payments = payments
        self.deals = deals
        self.announcer = announcer
        self.serving = serving


async def transition(
    session: AsyncSession,
    order_id: int,
    to: OrderStatus,
    *,
    by: str,
    effects: Effects,
    carrier: str | None = None,
    tracking_number: str | None = None,
    return_reason: str | None = None,
    only_from: frozenset[OrderStatus] | None = None,
) -> Order:
    """Move one order to ``to``; ``InvalidTransition`` (409) when its status does not allow it.

    The order's row is locked first (PostgreSQL; SQLite writers are serialised), so a
    change racing this one (the queue accepting it, say) is waited for, not failed.
    """
    order = await lock_order(session, order_id)
    current = OrderStatus(order.status)
    if to not in TRANSITIONS[current] or (only_from is not None and current not in only_from):
        raise InvalidTransition(
            f"an order that is {current.value} cannot become {to.value}",
            status=current.value, allowed=allowed_next(current.value),
        )  # fmt: skip
    values: dict[str, object] = {"status": to.value, "updated_at": utcnow()}
    if to == S.SHIPPED:
        if not carrier or not tracking_number:
            raise TrackingRequired("shipping needs a carrier and a tracking number")
        values.update(carrier=carrier, tracking_number=tracking_number)
    if to == S.RETURN_REQUESTED and return_reason:
        values["return_reason"] = return_reason
    result = await session.exec(
        update(Order).where(col(Order.id) == order_id, col(Order.status) == current.value)
        .values(values)
    )  # fmt: skip
    if result.rowcount != 1:  # someone else changed it between our read and write
        raise InvalidTransition("the order changed meanwhile; reload it", status=current.value)
    session.add(OrderEvent(order_id=order_id, status=to.value, at=utcnow(), by=by))
    await _payment_effect(session, order, to, effects.payments)
    if to in RESTOCKING:
        await _restock_once(session, order, effects)
    if to == S.CANCELLED:
        # A cancelled order leaves the queue: nothing left to accept.
        await session.exec(
            update(OutboxEntry).where(col(OutboxEntry.order_id) == order_id,
                                      col(OutboxEntry.done_at).is_(None))
            .values(done_at=utcnow())
        )  # fmt: skip
    await session.refresh(order)
    effects.announcer.order_changed(order)
    return order


async def _payment_effect(
    session: AsyncSession, order: Order, to: OrderStatus, payments: PaymentProvider
) -> None:
    new_status = None
    if to == S.SHIPPED:
        await payments.capture(order.payment_ref)
        new_status = PaymentStatus.CAPTURED
    elif to == S.CANCELLED:
        await payments.void(order.payment_ref)
        new_status = PaymentStatus.VOIDED
    elif to == S.REFUNDED:
        await payments.refund(order.payment_ref)
        new_status = PaymentStatus.REFUNDED
    if new_status is not None:
        await session.exec(
            update(Order).where(col(Order.id) == order.id).values(payment_status=new_status.value)
        )


async def _restock_once(session: AsyncSession, order: Order, effects: Effects) -> None:
    flagged = await session.exec(
        update(Order).where(col(Order.id) == order.id, col(Order.restocked).is_(False))
        .values(restocked=True)
    )  # fmt: skip
    if flagged.rowcount != 1:
        return
    lives = await lock_showing(session, effects.deals, order.product_id)
    await move_and_tell(session, effects.announcer, order.product_id, order.quantity, lives)
    if effects.serving is not None:
        unit = Unit(session, effects.announcer, effects.deals)
        await serve(unit, order.product_id, effects.serving)


async def accept(
    session: AsyncSession, order_ids: Sequence[int], announcer: Announcer
) -> list[int]:
    """Take orders off the queue: ``placed → accepted``, each exactly once.

    Returns the ids this call accepted. Orders no longer ``placed`` (already
    accepted by another worker, or cancelled) are skipped; every given id's
    outbox entry is marked done.
    """
    if not order_ids:
        return []
    ids = list(order_ids)
    now = utcnow()
    result = await session.exec(
        update(Order)
        .where(col(Order.id).in_(ids), col(Order.status) == S.PLACED.value)
        .values(status=S.ACCEPTED.value, updated_at=now)
        .returning(col(Order.id))
    )
    accepted = [row[0] for row in result.all()]
    if accepted:  # one multi-row INSERT, not one per order
        await session.exec(
            insert(OrderEvent).values(
                [{"order_id": i, "status": S.ACCEPTED.value, "at": now, "by": QUEUE_ACTOR}
                 for i in accepted]
            )
        )  # fmt: skip
    await session.exec(
        update(OutboxEntry)
        .where(col(OutboxEntry.order_id).in_(ids), col(OutboxEntry.done_at).is_(None))
        .values(done_at=now)
    )
    if accepted:
        rows = await session.exec(
            select(Order)
            .where(col(Order.id).in_(accepted))
            .execution_options(populate_existing=True)
        )
        for order in rows.all():
            announcer.order_changed(order)
    return accepted
