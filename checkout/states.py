"""The order status machine, enforced here and nowhere else.

    placed → accepted → picking → packed → shipped → delivered
           → return_requested → returned → refunded
    cancelled from placed | accepted | picking | packed

Every change is one conditional UPDATE (``WHERE status = :from``), so two
racing changes cannot both apply; each appends a history line with time and
actor. Side effects ride on the same transaction: payment capture at
``shipped``, void at ``cancelled``, refund at ``refunded``, and a restock at
``cancelled`` and at ``returned`` when the unit came back resellable (not damaged),
guarded by the order's ``restocked`` flag, so units come back exactly once. A return
request gets its RMA code (``RMA-000123``) with the reason and note.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout import stock
from checkout.errors import InvalidTransition, OrderNotFound, TrackingRequired
from checkout.models import (
    Order,
    OrderEvent,
    OrderStatus,
    OutboxEntry,
    PaymentStatus,
    ReturnCondition,
    ReturnReason,
)
from checkout.ports import Announcer, DealDesk, PaymentProvider
from checkout.sla import DEFAULT, Calendar
from checkout.stock import Shelves, lock_showing
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
        calendar: Calendar = DEFAULT,
    ) -> None:
        self.payments = payments
        self.deals = deals
        self.announcer = announcer
        self.serving = serving
        self.calendar = calendar  # for orders placed meanwhile (a waitlist's)


@dataclass(frozen=True)
class Change:
    """What a transition may carry besides its target: tracking (``shipped``), the return
    asked for (``return_requested``: a ``ReturnReason``, a note, and the buyer's words for
    v1's ``return_reason``), and the condition it came back in (``returned``; resellable
    when not said, as in v1)."""

    carrier: str | None = None
    tracking_number: str | None = None
    return_reason: str | None = None
    reason: str | None = None
    note: str | None = None
    condition: str | None = None
    comment: str | None = None  # why, kept in the history line (a cancel, a refund)


def rma_code(order_id: int) -> str:
    return f"RMA-{order_id:06d}"


async def transition(
    session: AsyncSession,
    order_id: int,
    to: OrderStatus,
    *,
    by: str,
    effects: Effects,
    change: Change = Change(),
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
    values = {"status": to.value, "updated_at": utcnow(), **_carried(order, to, change)}
    result = await session.exec(
        update(Order).where(col(Order.id) == order_id, col(Order.status) == current.value)
        .values(values)
    )  # fmt: skip
    if result.rowcount != 1:  # someone else changed it between our read and write
        raise InvalidTransition("the order changed meanwhile; reload it", status=current.value)
    session.add(OrderEvent(order_id=order_id, status=to.value, at=utcnow(), by=by,
                           note=change.comment))  # fmt: skip
    await _payment_effect(session, order, to, effects.payments)
    if to == S.SHIPPED:  # off the warehouse's shelf
        await stock.ship(session, order.product_id, order.warehouse, order.quantity)
    if to == S.CANCELLED or (to == S.RETURNED and _resellable(values)):
        await _restock_once(session, order, to, effects)
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


def _carried(order: Order, to: OrderStatus, change: Change) -> dict[str, object]:
    """The columns ``to`` sets besides the status: tracking, the return and its RMA, the
    condition a return came back in."""
    if to == S.SHIPPED:
        if not change.carrier or not change.tracking_number:
            raise TrackingRequired("shipping needs a carrier and a tracking number")
        return {"carrier": change.carrier, "tracking_number": change.tracking_number}
    if to == S.RETURN_REQUESTED:
        info = {"rma": rma_code(order.id or 0), "reason": change.reason or ReturnReason.OTHER,
                "note": change.note, "condition": None}  # fmt: skip
        return {"return_reason": change.return_reason, "return_info": json.dumps(info)}
    if to == S.RETURNED:
        info = json.loads(order.return_info) if order.return_info else {
            "rma": rma_code(order.id or 0), "reason": ReturnReason.OTHER, "note": None,
        }  # fmt: skip
        info["condition"] = change.condition or ReturnCondition.RESELLABLE
        return {"return_info": json.dumps(info)}
    return {}


def _resellable(values: dict[str, object]) -> bool:
    info = json.loads(str(values["return_info"]))
    return bool(info["condition"] == ReturnCondition.RESELLABLE)


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


async def _restock_once(
    session: AsyncSession, order: Order, to: OrderStatus, effects: Effects
) -> None:
    flagged = await session.exec(
        update(Order).where(col(Order.id) == order.id, col(Order.restocked).is_(False))
        .values(restocked=True)
    )  # fmt: skip
    if flagged.rowcount != 1:
        return
    lives = await lock_showing(session, effects.deals, order.product_id)
    shelves = Shelves(session, effects.announcer, lives)
    if to == S.CANCELLED:  # never left: no longer allocated
        await shelves.release(order.product_id, order.warehouse, order.quantity)
    else:  # came back resellable: on the shelf it shipped from
        await shelves.receive(order.product_id, order.warehouse, order.quantity)
    if effects.serving is not None:
        unit = Unit(session, effects.announcer, effects.deals, effects.calendar)
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
