"""Orders for units already held for their buyer: an auction's winner (and whoever the
unit passes to when the winner cannot pay).

The unit left stock when it was held (the auction's start), so nothing is taken
here. The buyer pays with the saved checkout profile: shipped to the saved address,
authorized off-session on the saved method. The order is keyed (``Award.key`` in
the idempotency keys): placing the same award again returns the order placed the
first time, so a settlement retried after a crash never places twice.

Guarantees: the authorization happens before the order's transaction (no lock is
held across the provider's network call) and is voided if that transaction fails or
finds the award placed already; ``CheckoutProfileRequired`` and ``PaymentDeclined``
write nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import select

from checkout import inventory
from checkout.errors import CheckoutProfileRequired
from checkout.models import IdempotencyRecord, Order, OrderEvent, OrderStatus, OutboxEntry
from checkout.orders import EventLike, OrderLike
from checkout.ports import PaymentProvider, Transactions, UnitOfWork
from checkout.profile import read_profile
from checkout.records import table_of
from common.sql import upsert_insert
from common.times import utcnow


@dataclass(frozen=True)
class Award:
    buyer_id: int
    buyer_name: str
    product_id: int
    live_id: int | None
    unit_price_cents: int
    currency: str
    source: str  # OrderSource: "auction", ...
    key: str  # unique per award, e.g. "auction:12:34"


async def _placed_before(unit: UnitOfWork, award: Award) -> Order | None:
    query = select(IdempotencyRecord.order_id).where(
        IdempotencyRecord.buyer_id == award.buyer_id, IdempotencyRecord.key == award.key
    )
    order_id = (await unit.session.exec(query)).first()
    return None if order_id is None else await unit.session.get(Order, order_id)


async def place_award(
    transaction: Transactions, payments: PaymentProvider, award: Award, *, relayed: bool
) -> tuple[OrderLike, bool]:
    """Place the award's order; returns it and whether it is new (False: placed before).
    Raises ``CheckoutProfileRequired`` or ``PaymentDeclined`` when this buyer cannot pay."""
    async with transaction() as unit:
        before = await _placed_before(unit, award)
        saved = await read_profile(unit.session, award.buyer_id)
    if before is not None:
        return before, False
    if saved.address is None or saved.method is None:
        raise CheckoutProfileRequired("no saved address and card", user_id=award.buyer_id)
    payment_ref = await payments.authorize(
        award.unit_price_cents, award.currency, award.key, method=saved.method
    )
    try:
        async with transaction() as unit:
            order = await _write(unit, award, saved.address, payment_ref, relayed=relayed)
    except BaseException:
        await payments.void(payment_ref)
        raise
    if order is None:  # another process placed it meanwhile: ours was one too many
        await payments.void(payment_ref)
        async with transaction() as unit:
            placed = await _placed_before(unit, award)
        if placed is None:
            raise RuntimeError(f"award {award.key} claimed but without its order")
        return placed, False
    return order, True


async def _write(
    unit: UnitOfWork, award: Award, address: dict[str, str], payment_ref: str, *, relayed: bool
) -> Order | None:
    """Claim the award's key and insert its order; None if the key was claimed already."""
    session, now = unit.session, utcnow()
    claim = upsert_insert(session)(table_of(IdempotencyRecord)).values(
        buyer_id=award.buyer_id, key=award.key, request_hash=award.key[:64], created_at=now
    )
    if (await session.exec(claim.on_conflict_do_nothing())).rowcount != 1:
        return None
    # The unit held for this award becomes the order's (sellable figures unchanged).
    warehouse = await inventory.release_hold(session, award.key, award.product_id)
    where = await inventory.require(session, warehouse)
    order = Order(
        buyer_id=award.buyer_id, product_id=award.product_id, live_id=award.live_id,
        quantity=1, unit_price_cents=award.unit_price_cents,
        total_cents=award.unit_price_cents, currency=award.currency,
        payment_ref=payment_ref, source=award.source, warehouse=warehouse,
        ship_by=unit.calendar.ship_by(now, where.country),
        shipping=json.dumps(address, separators=(",", ":"), ensure_ascii=False),
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    event = OrderEvent(order_id=order.id or 0, status=OrderStatus.PLACED.value, at=now,
                       by=award.buyer_name)  # fmt: skip
    outbox = OutboxEntry(order_id=order.id or 0, created_at=now,
                         relayed_at=now if relayed else None, attempts=0)  # fmt: skip
    record = await session.get(IdempotencyRecord, (award.buyer_id, award.key))
    if record is not None:
        record.order_id = order.id
        session.add(record)
    session.add_all([event, outbox])
    await session.flush()
    history: list[EventLike] = [event]
    unit.announcer.order_changed(order, history)
    return order
