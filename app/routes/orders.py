"""Orders: buy in-stream (idempotent), see your orders, cancel, return."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import User
from app.auth import require_user
from app.errors import ApiError
from app.http import PAGE, Param, operation, page, parse_body, path_id, respond, state
from app.permissions import Action, Facts, authorize
from app.schemas import OrderEnvelope, OrderIn, OrderList, OrderOut, ReturnIn
from app.state import AppState
from checkout import catalog, orders, profile, states
from checkout.models import Order, OrderStatus, ReturnReason
from checkout.orders import EventLike, OrderLike, OrderRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or key == "":
        raise ApiError(
            400,
            "idempotency_key_required",
            f"send an {IDEMPOTENCY_HEADER} header (1-{MAX_KEY_LENGTH} characters)",
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ApiError(422, "invalid_idempotency_key",
                       f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII chars",
                       fields={IDEMPOTENCY_HEADER: "invalid"})  # fmt: skip
    return key


def order_out(order: OrderLike, history: Sequence[EventLike]) -> OrderOut:
    return OrderOut.model_validate(orders.order_view(order, history))


def order_answer(order: OrderLike, history: list[EventLike]) -> str:
    """The 201 body for a new order (``checkout.placing.Render``); stored under its
    Idempotency-Key for replays."""
    return OrderEnvelope(order=order_out(order, history)).model_dump_json()


async def order_outs(st: AppState, order_ids: list[int]) -> list[OrderOut]:
    """The orders with their histories, read at one consistent moment, in the given order."""
    async with st.db.snapshot() as session:
        found = {o.id or 0: o for o in await orders.orders_by_id(session, order_ids)}
        history = await orders.histories(session, list(found))
    return [order_out(found[i], history.get(i, [])) for i in order_ids if i in found]


def shipping_of(body: OrderIn, saved: profile.Profile) -> dict[str, str]:
    """The order's address: as sent, else the saved one; neither is a 422 on ``shipping``."""
    if body.shipping is not None:
        return body.shipping.model_dump()
    if saved.address is None:
        raise ApiError(422, "validation_error",
                       "send shipping, or save an address first (PUT /api/me/address)",
                       fields={"shipping": "required: no address is saved"})  # fmt: skip
    return saved.address


@operation(
    "Buy a product (optionally through a live, at its deal price); idempotent per key. "
    "shipping may be omitted once an address is saved; a saved payment method is used",
    auth=True,
    body=OrderIn,
    headers={IDEMPOTENCY_HEADER: Param(
        "1-255 printable ASCII characters; a retry with the same key and body returns the "
        "same order", {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                       "pattern": "^[ -~]+$"})},
    responses={201: OrderEnvelope, 400: None, 401: None, 402: None, 404: None, 409: None,
               422: None},
    tags=("orders",),
)  # fmt: skip
async def place(request: Request) -> Response:
    user = authorize(await require_user(request), Action.PLACE_ORDER)
    key = idempotency_key(request)
    body = await parse_body(request, OrderIn)
    if body.source is not None and body.live_id is None:
        raise ApiError(422, "validation_error", "a replay order names its live",
                       fields={"live_id": "required with source replay"})  # fmt: skip
    st = state(request)
    async with st.db.read() as session:  # the one read an order adds: address and method
        saved = await profile.read_profile(session, user.uid)
    req = OrderRequest(
        buyer_id=user.uid, buyer_name=user.username, idempotency_key=key,
        product_id=body.product_id, quantity=body.quantity, live_id=body.live_id,
        shipping=shipping_of(body, saved), shipping_saved=body.shipping is None,
        method=saved.method, source=body.source,
    )  # fmt: skip
    placed = await st.desk.place(req)
    body_json = placed.response
    if body_json is None:  # every answer is stored with its order; rebuilt just in case
        order = (await order_outs(st, [placed.order.id or 0]))[0]
        body_json = OrderEnvelope(order=order).model_dump_json()
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return Response(body_json, 201, headers, media_type="application/json")


@operation("My orders, newest first", auth=True, responses={200: OrderList, 401: None},
           query=PAGE,
           tags=("orders",))  # fmt: skip
async def mine(request: Request) -> Response:
    user = await require_user(request)
    limit, offset = page(request)
    st = state(request)
    async with st.db.read() as session:
        found = list(await orders.list_orders(session, buyer_id=user.uid, limit=limit,
                                              offset=offset))  # fmt: skip
    return respond(OrderList(orders=await order_outs(st, [o.id or 0 for o in found])))


async def visible_order(st: AppState, user: User, order_id: int, action: Action) -> Order:
    """The order if ``user`` may see it; anyone else gets 404 (not 403: no existence leak)."""
    async with st.db.read() as session:
        order = await orders.get_order(session, order_id)
        product = await catalog.get_product(session, order.product_id)
    facts = Facts(owner_id=product.creator_id, buyer_id=order.buyer_id)
    try:
        authorize(user, Action.VIEW_ORDER, facts)
    except ApiError:
        raise ApiError(404, "not_found", "order not found") from None
    authorize(user, action, facts)
    return order


@operation("One order (its buyer, the product's creator, staff)", auth=True,
           responses={200: OrderEnvelope, 401: None, 404: None}, tags=("orders",))  # fmt: skip
async def get_one(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    order = await visible_order(st, user, path_id(request, "order"), Action.VIEW_ORDER)
    return respond(OrderEnvelope(order=(await order_outs(st, [order.id or 0]))[0]))


async def change(
    st: AppState, user: User, order_id: int, to: OrderStatus, details: states.Change | None = None
) -> Response:
    """Apply one status change (see ``checkout.states``) and answer with the order."""
    async with st.commerce.transaction() as unit:
        order = await states.transition(
            unit.session, order_id, to, by=user.username,
            effects=states.Effects(st.payments, unit.deals, unit.announcer, st.serving,
                                   unit.calendar),
            change=details or states.Change(),
        )  # fmt: skip
    return respond(OrderEnvelope(order=(await order_outs(st, [order.id or 0]))[0]))


def return_change(body: ReturnIn) -> states.Change:
    """The return asked for. A reason from the list is taken as is; any other text (a v1
    client's own words) is the note of reason ``other``. ``return_reason`` keeps the
    buyer's words (the note, else the reason), as v1 showed it."""
    if body.reason in {r.value for r in ReturnReason}:
        return states.Change(reason=body.reason, note=body.note,
                             return_reason=body.note or body.reason)  # fmt: skip
    note = body.note or body.reason
    return states.Change(reason=ReturnReason.OTHER, note=note, return_reason=body.reason)


@operation("Cancel before shipping (its buyer, staff); restocks", auth=True,
           responses={200: OrderEnvelope, 401: None, 403: None, 404: None, 409: None},
           tags=("orders",))  # fmt: skip
async def cancel(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    order = await visible_order(st, user, path_id(request, "order"), Action.CANCEL_ORDER)
    return await change(st, user, order.id or 0, OrderStatus.CANCELLED)


@operation("Ask to return a delivered order (its buyer): a reason from the list and a "
           "note; the order gets an RMA code", auth=True, body=ReturnIn,
           responses={200: OrderEnvelope, 401: None, 403: None, 404: None, 409: None,
                      422: None}, tags=("orders",))  # fmt: skip
async def return_order(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    order = await visible_order(st, user, path_id(request, "order"), Action.RETURN_ORDER)
    body = await parse_body(request, ReturnIn)
    return await change(st, user, order.id or 0, OrderStatus.RETURN_REQUESTED,
                        return_change(body))  # fmt: skip


routes = [
    Route("/api/orders", place, methods=["POST"]),
    Route("/api/orders", mine, methods=["GET"]),
    Route("/api/orders/{id}", get_one, methods=["GET"]),
    Route("/api/orders/{id}/cancel", cancel, methods=["POST"]),
    Route("/api/orders/{id}/return", return_order, methods=["POST"]),
]
