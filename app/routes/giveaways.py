"""Giveaways: start one on a live, read them, enter (contract: Giveaways)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import User
from app.auth import optional_user, require_user
from app.giveaway_actions import enter, start_giveaway
from app.giveaway_schemas import GiveawayEnvelope, GiveawayIn, GiveawayList, GiveawayRead
from app.http import operation, parse_body, path_id, respond, state
from live import giveaways, lives
from live.models import Giveaway


async def _view(session: AsyncSession, g: Giveaway, user: User | None) -> dict[str, Any]:
    """The view with the live entry count while open, and whether ``user`` entered."""
    gid = g.id or 0
    count = await giveaways.count_entries(session, gid) if g.status == giveaways.OPEN else None
    entered = None if user is None else await giveaways.has_entered(session, gid, user.uid)
    return giveaways.giveaway_view(g, count, entered)


@operation(
    "Start a giveaway on a live (its creator or a moderator, while live); holds one unit",
    auth=True,
    body=GiveawayIn,
    responses={201: GiveawayEnvelope, 401: None, 403: None, 404: None, 409: None, 422: None},
    tags=("giveaways",),
)
async def create(request: Request) -> Response:
    body = await parse_body(request, GiveawayIn)
    view = await start_giveaway(state(request), await require_user(request), path_id(request), body)
    return respond(GiveawayEnvelope.model_validate({"giveaway": view}), 201)


@operation(
    "A giveaway; once drawn, with its seed and every entrant in entry order",
    auth="optional",
    responses={200: GiveawayRead, 404: None},
    tags=("giveaways",),
)
async def read(request: Request) -> Response:
    user = await optional_user(request)
    async with state(request).db.read() as session:
        g = await giveaways.get(session, path_id(request))
        body: dict[str, Any] = {"giveaway": await _view(session, g, user)}
        if g.status == giveaways.DRAWN:
            body["entrants"] = await giveaways.entrants(session, path_id(request))
    return respond(GiveawayRead.model_validate(body))


@operation(
    "A live's giveaways, newest first",
    auth="optional",
    responses={200: GiveawayList, 404: None},
    tags=("giveaways",),
)
async def of_live(request: Request) -> Response:
    user = await optional_user(request)
    async with state(request).db.read() as session:
        await lives.get_live(session, path_id(request))
        found = await giveaways.of_live(session, path_id(request))
        views = [await _view(session, g, user) for g in found]
    return respond(GiveawayList.model_validate({"giveaways": views}))


@operation(
    "Enter (signed in, watching the live, with a checkout profile; not its creator or "
    "moderators); one entry per account",
    auth=True,
    responses={201: GiveawayEnvelope, 401: None, 403: None, 404: None, 409: None},
    tags=("giveaways",),
)
async def entries(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    count = await enter(st, user, path_id(request))
    async with st.db.read() as session:
        g = await giveaways.get(session, path_id(request))
    view = giveaways.giveaway_view(g, count, entered=True)
    return respond(GiveawayEnvelope.model_validate({"giveaway": view}), 201)


routes = [
    Route("/api/lives/{id}/giveaways", create, methods=["POST"]),
    Route("/api/lives/{id}/giveaways", of_live, methods=["GET"]),
    Route("/api/giveaways/{id}", read, methods=["GET"]),
    Route("/api/giveaways/{id}/entries", entries, methods=["POST"]),
]
