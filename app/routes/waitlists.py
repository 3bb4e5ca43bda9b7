"""Waitlists of sold-out products: join, leave, and the owner's view of who waits.

Joining needs a saved address and card (the order is placed with them when a unit comes
back) and a product that cannot be bought now (409 ``in_stock`` otherwise). A buyer has
one place per product: joining again keeps it, with the new quantity.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import require_user
from app.claims import join_waitlist
from app.errors import ApiError
from app.http import operation, parse_body, path_id, respond, state
from app.permissions import Action, Facts, authorize
from app.schemas import ActorOut
from app.waitlist_schemas import (
    WaitlistEntryOut,
    WaitlistIn,
    WaitlistOut,
    WaitlistPlace,
    WaitlistPlaceEnvelope,
)
from checkout import catalog, profile, waitlist


@operation(
    "Join a sold-out product's waitlist (or keep your place with a new quantity)",
    auth=True,
    body=WaitlistIn,
    body_required=False,
    responses={201: WaitlistPlaceEnvelope, 401: None, 404: None, 409: None, 422: None},
    tags=("waitlists",),
)
async def join(request: Request) -> Response:
    user = authorize(await require_user(request), Action.PLACE_ORDER)
    product_id = path_id(request, "product")
    sent = request.headers.get("content-length", "0") != "0"
    body = await parse_body(request, WaitlistIn) if sent else WaitlistIn()
    st = state(request)
    async with st.db.read() as session:
        await catalog.get_product(session, product_id)  # 404 before anything else
        saved = await profile.read_profile(session, user.uid)
    if not saved.complete:
        raise ApiError(409, "checkout_profile_required",
                       "save an address and a card to join a waitlist")  # fmt: skip
    place = await join_waitlist(st, user, product_id, body.quantity, refuse_in_stock=True)
    if place is None:  # pragma: no cover - refuse_in_stock does not serve
        raise ApiError(409, "in_stock", "it is in stock: buy it instead")
    out = WaitlistPlace(product_id=product_id, position=place.position, quantity=place.quantity)
    return respond(WaitlistPlaceEnvelope(waitlist=out), 201)


@operation(
    "Leave a product's waitlist (nothing happens if you were not on it)",
    auth=True,
    responses={204: None, 401: None, 404: None},
    tags=("waitlists",),
)
async def leave(request: Request) -> Response:
    user = await require_user(request)
    product_id = path_id(request, "product")
    async with state(request).db.write() as session:
        await catalog.get_product(session, product_id)
        await waitlist.leave(session, product_id, user.uid)
    return Response(status_code=204)


@operation(
    "Who waits for a product, first served first (its creator)",
    auth=True,
    responses={200: WaitlistOut, 401: None, 403: None, 404: None},
    tags=("waitlists",),
)
async def show(request: Request) -> Response:
    user = await require_user(request)
    product_id = path_id(request, "product")
    async with state(request).db.read() as session:
        product = await catalog.get_product(session, product_id)
        authorize(user, Action.EDIT_PRODUCT, Facts(owner_id=product.creator_id))
        entries = await waitlist.waiting(session, product_id)
    out = [
        WaitlistEntryOut(position=i, user=ActorOut(id=e.user_id, username=e.username),
                         quantity=e.quantity, joined_at=e.created_at)
        for i, e in enumerate(entries, 1)
    ]  # fmt: skip
    return respond(WaitlistOut(waitlist=out))


routes = [
    Route("/api/products/{id}/waitlist", join, methods=["POST"]),
    Route("/api/products/{id}/waitlist", leave, methods=["DELETE"]),
    Route("/api/products/{id}/waitlist", show, methods=["GET"]),
]
