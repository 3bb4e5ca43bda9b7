"""Bundled shipments: packed orders of one buyer, to one address, from one warehouse,
shipped together under one tracking number — all of them or none.

The orders are locked in id order (the lock order of every transaction: orders before
lives and products), checked together, then each moves to ``shipped`` through the status
machine (``checkout.states``: payment captured, buyer told) in the same transaction, so
a refusal of any one leaves every order as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import InvalidTransition, NotShippableTogether
from checkout.models import Order, OrderStatus, Shipment
from checkout.states import Change, Effects, lock_order, transition


def shipment_view(shipment: Shipment, order_ids: Sequence[int]) -> dict[str, Any]:
    return {"id": shipment.id, "order_ids": list(order_ids), "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number}  # fmt: skip


async def ship_together(
    session: AsyncSession, order_ids: Sequence[int], carrier: str, tracking_number: str, *,
    by: str, effects: Effects,
) -> dict[str, Any]:  # fmt: skip
    """Ship ``order_ids`` as one shipment; raises (changing nothing) unless they are all
    ``packed``, of one buyer, to one address, from one warehouse."""
    ids = sorted(set(order_ids))
    orders = [await lock_order(session, i) for i in ids]
    _check(orders)
    shipment = Shipment(carrier=carrier, tracking_number=tracking_number, created_by=by)
    session.add(shipment)
    await session.flush()
    change = Change(carrier=carrier, tracking_number=tracking_number)
    for order_id in ids:
        await transition(session, order_id, OrderStatus.SHIPPED, by=by, effects=effects,
                         change=change)  # fmt: skip
    await session.exec(update(Order).where(col(Order.id).in_(ids)).values(shipment_id=shipment.id))
    return shipment_view(shipment, ids)


def _check(orders: Sequence[Order]) -> None:
    not_packed = [o.id for o in orders if o.status != OrderStatus.PACKED.value]
    if not_packed:
        raise InvalidTransition(
            "only packed orders can ship: " + ", ".join(f"#{i}" for i in not_packed),
            order_ids=not_packed,
        )
    if len({o.buyer_id for o in orders}) > 1:
        raise NotShippableTogether("the orders are for different buyers")
    addresses = {json.dumps(json.loads(o.shipping), sort_keys=True) for o in orders}
    if len(addresses) > 1:
        raise NotShippableTogether("the orders go to different addresses")
    if len({o.warehouse for o in orders}) > 1:
        raise NotShippableTogether("the orders ship from different warehouses")
