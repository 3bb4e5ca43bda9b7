"""The fulfillment board (staff): orders by status, transitions, dead letters."""

from __future__ import annotations

import json

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import accounts
from app.auth import require_user
from app.errors import ApiError
from app.fields import USERNAME_RE, WAREHOUSE_RE
from app.fulfillment_schemas import (
    DeadLetterList,
    DeadLetterOut,
    ShipmentEnvelope,
    ShipmentIn,
    TransitionIn,
)
from app.http import (
    PAGE,
    Param,
    enum_param,
    operation,
    page,
    parse_body,
    path_id,
    respond,
    state,
)
from app.permissions import Action, authorize
from app.routes.orders import change, order_outs
from app.schemas import OrderEnvelope, OrderList
from app.state import AppState
from checkout import orders, shipments, states
from checkout.models import DeadLetter, OrderStatus
from common.times import utcnow

_STATUSES = ", ".join(s.value for s in OrderStatus)


@operation("Orders for the board, newest first (staff): by status, warehouse, late ones (not "
           "shipped and past ship_by), or matching q (an order id, a buyer's username, a "
           "tracking number)", auth=True,
           responses={200: OrderList, 401: None, 403: None, 422: None},
           query={"status": enum_param("only orders in this status",
                                       (s.value for s in OrderStatus)),
                  "warehouse": Param("only orders shipping from this warehouse (its code, "
                                     "any case)", {"type": "string", "maxLength": 16}),
                  "late": enum_param("true: only orders late now", ("true", "false")),
                  "q": Param("an order id, a buyer's username or a tracking number",
                             {"type": "string", "maxLength": 64}),
                  **PAGE},
           tags=("fulfillment",))  # fmt: skip
async def board(request: Request) -> Response:
    authorize(await require_user(request), Action.FULFIL)
    st = state(request)
    search = await _search(st, request)
    limit, offset = page(request)
    async with st.db.read() as session:
        found = list(await orders.search_orders(session, search, limit=limit, offset=offset))
    return respond(OrderList(orders=await order_outs(st, [o.id or 0 for o in found])))


def _bad(name: str, why: str) -> ApiError:
    return ApiError(422, "validation_error", f"invalid {name}", fields={name: why})


async def _search(st: AppState, request: Request) -> orders.Search:
    """The board's query: ``status``, ``warehouse``, ``late``, ``q`` (an id, a username, a
    tracking number)."""
    params = request.query_params
    raw = params.get("status") or None
    if raw is not None and raw not in {s.value for s in OrderStatus}:
        raise _bad("status", f"must be one of {_STATUSES}")
    late = params.get("late") or "false"
    if late not in ("true", "false"):
        raise _bad("late", "must be true or false")
    q = (params.get("q") or "").strip()
    if len(q) > 64 or not q.isprintable():
        raise _bad("q", "at most 64 printable characters")
    warehouse = (params.get("warehouse") or "").upper() or None
    if warehouse is not None and not WAREHOUSE_RE.fullmatch(warehouse):
        raise _bad("warehouse", "a warehouse code: letters, digits, - and _, up to 16")
    status = OrderStatus(raw) if raw is not None else None
    late_at = utcnow() if late == "true" else None
    if not q:
        return orders.Search(status, warehouse, late_at)
    order_id = int(q) if q.isascii() and q.isdigit() and len(q) <= 12 else None
    buyer_id = None
    if USERNAME_RE.fullmatch(q.lower()):
        async with st.db.read() as session:
            buyer = await accounts.get_by_username(session, q.lower())
        buyer_id = buyer.uid if buyer is not None else None
    return orders.Search(status, warehouse, late_at, order_id, buyer_id, q)


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
                            condition=body.condition, comment=body.note)  # fmt: skip
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


@operation("Ship packed orders of one buyer, to one address, together under one tracking "
           "number (staff): all of them or none", auth=True, body=ShipmentIn,
           responses={201: ShipmentEnvelope, 401: None, 403: None, 404: None, 409: None,
                      422: None}, tags=("fulfillment",))  # fmt: skip
async def ship_together(request: Request) -> Response:
    user = authorize(await require_user(request), Action.FULFIL)
    body = await parse_body(request, ShipmentIn)
    if len(set(body.order_ids)) != len(body.order_ids):
        raise _bad("order_ids", "must not repeat an order")
    st = state(request)
    async with st.commerce.transaction() as unit:
        effects = states.Effects(st.payments, unit.deals, unit.announcer, st.serving,
                                 unit.calendar)  # fmt: skip
        view = await shipments.ship_together(
            unit.session, body.order_ids, body.carrier, body.tracking_number,
            by=user.username, effects=effects,
        )  # fmt: skip
    return respond(ShipmentEnvelope.model_validate({"shipment": view}), 201)


routes = [
    Route("/api/fulfillment/orders", board, methods=["GET"]),
    Route("/api/fulfillment/orders/{id}/transition", transition, methods=["POST"]),
    Route("/api/fulfillment/dead-letters", dead_letters, methods=["GET"]),
    Route("/api/fulfillment/shipments", ship_together, methods=["POST"]),
]
