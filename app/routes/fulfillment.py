"""The fulfillment board (staff): orders by status, transitions, dead letters."""

from __future__ import annotations

import json

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import require_user
from app.errors import ApiError
from app.fulfillment_schemas import DeadLetterList, DeadLetterOut, TransitionIn
from app.http import PAGE, enum_param, operation, page, parse_body, path_id, respond, state
from app.permissions import Action, authorize
from app.routes.orders import change, order_outs
from app.schemas import OrderEnvelope, OrderList
from checkout import orders, states
from checkout.models import DeadLetter, OrderStatus

_STATUSES = ", ".join(s.value for s in OrderStatus)


@operation("Orders for the board, newest first (staff)", auth=True,
           responses={200: OrderList, 401: None, 403: None, 422: None},
           query={"status": enum_param("only orders in this status",
                                       (s.value for s in OrderStatus)), **PAGE},
           tags=("fulfillment",))  # fmt: skip
async def board(request: Request) -> Response:
    authorize(await require_user(request), Action.FULFIL)
    raw = request.query_params.get("status") or None
    try:
        status = OrderStatus(raw) if raw is not None else None
    except ValueError:
        raise ApiError(
            422,
            "validation_error",
            "unknown status",
            fields={"status": f"must be one of {_STATUSES}"},
        ) from None
    limit, offset = page(request)
    st = state(request)
    async with st.db.read() as session:
        found = list(await orders.list_orders(session, status=status, limit=limit,
                                              offset=offset))  # fmt: skip
    return respond(OrderList(orders=await order_outs(st, [o.id or 0 for o in found])))


@operation("Move an order along the status machine (staff); shipped needs carrier and "
           "tracking_number; returned takes the condition (resellable, the default, or "
           "damaged: not restocked)", auth=True, body=TransitionIn,
           responses={200: OrderEnvelope, 401: None, 403: None, 404: None, 409: None, 422: None},
           tags=("fulfillment",))  # fmt: skip
async def transition(request: Request) -> Response:
    user = authorize(await require_user(request), Action.FULFIL)
    order_id = path_id(request, "order")
    body = await parse_body(request, TransitionIn)
    try:
        to = OrderStatus(body.to)
    except ValueError:
        raise ApiError(
            422, "validation_error", "unknown status", fields={"to": f"must be one of {_STATUSES}"}
        ) from None
    if to in states.QUEUE_ONLY:
        raise ApiError(
            409, "invalid_transition", "orders are accepted by the fulfillment queue, not by hand"
        )
    if to == OrderStatus.SHIPPED and not (body.carrier and body.tracking_number):
        raise ApiError(422, "validation_error", "shipping needs a carrier and a tracking number",
                       fields={k: "required to ship" for k in ("carrier", "tracking_number")
                               if not getattr(body, k)})  # fmt: skip
    details = states.Change(carrier=body.carrier, tracking_number=body.tracking_number,
                            condition=body.condition)  # fmt: skip
    return await change(state(request), user, order_id, to, details)


@operation("Queue entries that failed too often (staff)", auth=True,
           responses={200: DeadLetterList, 401: None, 403: None}, query=PAGE,
           tags=("fulfillment",))  # fmt: skip
async def dead_letters(request: Request) -> Response:
    authorize(await require_user(request), Action.FULFIL)
    limit, offset = page(request)
    async with state(request).db.read() as session:
        rows = (
            await session.exec(
                select(DeadLetter).order_by(col(DeadLetter.id).desc()).limit(limit).offset(offset)
            )
        ).all()
    return respond(DeadLetterList(dead_letters=[
        DeadLetterOut(id=r.id or 0, order_id=r.order_id, entry=json.loads(r.entry), error=r.error,
                      attempts=r.attempts, created_at=r.created_at)
        for r in rows
    ]))  # fmt: skip


routes = [
    Route("/api/fulfillment/orders", board, methods=["GET"]),
    Route("/api/fulfillment/orders/{id}/transition", transition, methods=["POST"]),
    Route("/api/fulfillment/dead-letters", dead_letters, methods=["GET"]),
]
