"""The live's feed over REST: pin and unpin, the bag, the replay log, stats."""

from __future__ import annotations

import json

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import optional_user, require_user
from app.http import int_param, operation, parse_body, path_id, query_int, respond, state
from app.live_actions import authorize_on_live, pin_product, unpin_product
from app.permissions import Action
from app.replay_schemas import ReplaySales, ReplayStats
from app.routes.products import product_out
from app.schemas import (
    EventList,
    LiveStats,
    PinIn,
    PinnedEnvelope,
    PinnedOut,
    PinStats,
    ProductList,
)
from checkout import orders
from checkout.models import Product
from live import lives, log, pins

_ERRORS_ON_LIVE = {401: None, 403: None, 404: None}


@operation(
    "Pin a product, optionally with a flash deal (creator or moderator; only while live)",
    auth=True,
    body=PinIn,
    responses={200: PinnedEnvelope, **_ERRORS_ON_LIVE, 409: None, 422: None},
    tags=("live feed",),
)
async def pin(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    body = await parse_body(request, PinIn)
    pinned = await pin_product(state(request), user, live_id, body)
    return respond(PinnedEnvelope(pinned=PinnedOut.model_validate(pinned)))


@operation(
    "Unpin the pinned product (creator or moderator; only while live)",
    auth=True,
    responses={204: None, **_ERRORS_ON_LIVE, 409: None},
    tags=("live feed",),
)
async def unpin(request: Request) -> Response:
    user = await require_user(request)
    await unpin_product(state(request), user, path_id(request, "live"))
    return Response(status_code=204)


@operation(
    "Products shown on the live (every product it has pinned)",
    auth="optional",
    responses={200: ProductList, 404: None},
    tags=("live feed",),
)
async def bag(request: Request) -> Response:
    await optional_user(request)
    live_id = path_id(request, "live")
    async with state(request).db.read() as session:
        await lives.get_live(session, live_id)
        ids = await pins.bag_product_ids(session, live_id)
        found = (await session.exec(select(Product).where(col(Product.id).in_(ids)))).all()
    by_id = {p.id: p for p in found}
    return respond(ProductList(products=[product_out(by_id[i]) for i in ids if i in by_id]))


@operation(
    "The replay log: broadcast events with seq > after, oldest first",
    auth="optional",
    responses={200: EventList, 404: None, 422: None},
    query={
        "after": int_param("seq to start after, default 0", low=0),
        "limit": int_param("how many, default 100", low=1, high=1000),
    },
    tags=("live feed",),
)
async def events(request: Request) -> Response:
    await optional_user(request)
    live_id = path_id(request, "live")
    after = query_int(request, "after", default=0, low=0) or 0
    limit = query_int(request, "limit", default=100, low=1, high=1000) or 100
    async with state(request).db.read() as session:
        await lives.get_live(session, live_id)
        frames = await log.events_after(session, live_id, after, limit)
    return respond({"events": [json.loads(frame.text) for frame in frames]})


@operation(
    "Viewers, peak viewers, sales and every pin (creator or moderator)",
    auth=True,
    responses={200: LiveStats, **_ERRORS_ON_LIVE},
    tags=("live feed",),
)
async def stats(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    async with st.db.read() as session:
        history = await pins.pins_of(session, live_id)
        peak = (await lives.get_live(session, live_id)).peak_viewers
        total, per_pin = await orders.live_sales(session, live_id)
        replayed, per_product = await orders.replay_sales(session, live_id)
    viewers = (await st.hub.viewer_totals([live_id]))[live_id]
    none = orders.Sales(0, 0, 0)
    body = LiveStats(
        viewers=viewers,
        peak_viewers=max(peak, viewers),
        orders=total.orders,
        units=total.units,
        revenue_cents=total.revenue_cents,
        pins=[
            PinStats(
                product_id=p.product_id,
                pinned_at=p.pinned_at,
                unpinned_at=p.unpinned_at,
                orders=per_pin.get(p.id or 0, none).orders,
                units=per_pin.get(p.id or 0, none).units,
            )
            for p in history
        ],
        replay=_replay_stats(replayed, per_product),
    )
    return respond(body)


def _replay_stats(total: orders.Sales, per_product: dict[int, orders.Sales]) -> ReplayStats:
    products = [ReplaySales(product_id=pid, orders=s.orders, units=s.units,
                            revenue_cents=s.revenue_cents)
                for pid, s in sorted(per_product.items())]  # fmt: skip
    return ReplayStats(orders=total.orders, units=total.units,
                       revenue_cents=total.revenue_cents, products=products)  # fmt: skip


routes = [
    Route("/api/lives/{id}/pin", pin, methods=["POST"]),
    Route("/api/lives/{id}/pin", unpin, methods=["DELETE"]),
    Route("/api/lives/{id}/bag", bag, methods=["GET"]),
    Route("/api/lives/{id}/events", events, methods=["GET"]),
    Route("/api/lives/{id}/stats", stats, methods=["GET"]),
]
