"""Lives: create, list, the lifecycle, moderators."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import accounts, feed
from app.accounts import User
from app.auth import optional_user, require_user
from app.errors import ApiError
from app.fields import USERNAME_RE
from app.http import (
    PAGE,
    enum_param,
    int_param,
    operation,
    page,
    parse_body,
    path_id,
    query_int,
    respond,
    state,
)
from app.live_actions import authorize_on_live
from app.permissions import Action, authorize
from app.replay_schemas import LivePatch
from app.routes.accounts import user_out
from app.schemas import LiveEnvelope, LiveIn, LiveList, ModeratorList, explicit_nulls
from live import lives
from live.models import LiveStatus

_STATUS_QUERY = ", ".join(s.value for s in LiveStatus)
_ERRORS_ON_LIVE = {401: None, 403: None, 404: None}


@operation(
    "Create a live (creators); it starts out scheduled",
    auth=True,
    body=LiveIn,
    responses={201: LiveEnvelope, 401: None, 403: None, 422: None},
    tags=("lives",),
)
async def create_live(request: Request) -> Response:
    user = authorize(await require_user(request), Action.CREATE_LIVE)
    body = await parse_body(request, LiveIn)
    st = state(request)
    async with st.db.write() as session:
        live = await lives.create_live(
            session, creator_id=user.uid, title=body.title, stream_url=body.stream_url,
            scheduled_at=body.scheduled_at,
        )  # fmt: skip
        out = await feed.live_out(st, session, live)
    return respond(LiveEnvelope(live=out), 201)


@operation(
    "List lives, newest first",
    auth="optional",
    responses={200: LiveList, 422: None},
    query={
        "status": enum_param("only lives in this status", (s.value for s in LiveStatus)),
        "creator_id": int_param("only this creator's lives", low=1),
        **PAGE,
    },
    tags=("lives",),
)
async def list_lives(request: Request) -> Response:
    await optional_user(request)
    raw_status = request.query_params.get("status") or None
    try:
        status = LiveStatus(raw_status) if raw_status is not None else None
    except ValueError:
        raise ApiError(
            422,
            "validation_error",
            "unknown status",
            fields={"status": f"must be one of {_STATUS_QUERY}"},
        ) from None
    creator_id = query_int(request, "creator_id", low=1)
    limit, offset = page(request)
    st = state(request)
    async with st.db.read() as session:
        found = await lives.list_lives(
            session, status=status, creator_id=creator_id, limit=limit, offset=offset
        )
        outs = await feed.live_outs(st, session, found)
    return respond(LiveList(lives=outs))


@operation("One live", auth="optional", responses={200: LiveEnvelope, 404: None}, tags=("lives",))
async def get_live(request: Request) -> Response:
    await optional_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    async with st.db.read() as session:
        live = await lives.get_live(session, live_id)
        out = await feed.live_out(st, session, live)
    return respond(LiveEnvelope(live=out))


@operation(
    "Change a live's title, stream URL, recording URL or scheduled start (its creator); "
    "only the fields sent change; scheduled_at only while scheduled",
    auth=True,
    body=LivePatch,
    responses={200: LiveEnvelope, **_ERRORS_ON_LIVE, 409: None, 422: None},
    tags=("lives",),
)
async def update_live(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    body = await parse_body(request, LivePatch)
    if nulls := explicit_nulls(body, ("title",)):
        raise ApiError(422, "validation_error", "the request has invalid fields", fields=nulls)
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.RUN_LIVE)
    async with st.hub.transaction() as batch:
        await lives.edit(batch, live_id, body.model_dump(exclude_unset=True))
    async with st.db.read() as session:
        out = await feed.live_out(st, session, await lives.get_live(session, live_id))
    return respond(LiveEnvelope(live=out))


async def _transition(request: Request, to: LiveStatus) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.RUN_LIVE)
    async with st.hub.transaction() as batch:
        if to == LiveStatus.LIVE:
            live = await lives.start(batch, live_id)
        else:
            live = await lives.end(batch, live_id)
    async with st.db.read() as session:
        out = await feed.live_out(st, session, live)
    return respond(LiveEnvelope(live=out))


@operation(
    "Go live (its creator); only from scheduled",
    auth=True,
    responses={200: LiveEnvelope, **_ERRORS_ON_LIVE, 409: None},
    tags=("lives",),
)
async def start_live(request: Request) -> Response:
    return await _transition(request, LiveStatus.LIVE)


@operation(
    "End the live (its creator); only while live, and for good",
    auth=True,
    responses={200: LiveEnvelope, **_ERRORS_ON_LIVE, 409: None},
    tags=("lives",),
)
async def end_live(request: Request) -> Response:
    return await _transition(request, LiveStatus.ENDED)


async def _moderators(session: AsyncSession, live_id: int) -> ModeratorList:
    ids = await lives.moderator_ids(session, live_id)
    users = await session.exec(select(User).where(col(User.id).in_(ids)).order_by(User.username))
    return ModeratorList(moderators=[user_out(u) for u in users])


@operation(
    "The live's moderators (its creator and moderators)",
    auth=True,
    responses={200: ModeratorList, **_ERRORS_ON_LIVE},
    tags=("lives",),
)
async def list_moderators(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    async with st.db.read() as session:
        result = await _moderators(session, live_id)
    return respond(result)


async def _moderator_target(request: Request) -> tuple[int, User]:
    """The live id and the named user, once the caller may manage the live's moderators."""
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MANAGE_MODERATORS)
    username = str(request.path_params["username"])
    target = None
    if USERNAME_RE.fullmatch(username):  # anything else cannot name an account
        async with st.db.read() as session:
            target = await accounts.get_by_username(session, username)
    if target is None:
        raise ApiError(404, "user_not_found", "no user with that username")
    return live_id, target


@operation(
    "Make a user a moderator of the live (its creator); idempotent",
    auth=True,
    responses={200: ModeratorList, **_ERRORS_ON_LIVE, 422: None},
    tags=("lives",),
)
async def add_moderator(request: Request) -> Response:
    live_id, target = await _moderator_target(request)
    async with state(request).db.write() as session:
        live = await lives.get_live(session, live_id)
        await lives.add_moderator(session, live, target.uid)
        result = await _moderators(session, live_id)
    await state(request).hub.publisher.control(live_id, "moderator", target.uid)
    return respond(result)


@operation(
    "Remove a moderator (its creator); idempotent",
    auth=True,
    responses={204: None, **_ERRORS_ON_LIVE},
    tags=("lives",),
)
async def remove_moderator(request: Request) -> Response:
    live_id, target = await _moderator_target(request)
    async with state(request).db.write() as session:
        await lives.remove_moderator(session, live_id, target.uid)
    await state(request).hub.publisher.control(live_id, "unmoderator", target.uid)
    return Response(status_code=204)


routes = [
    Route("/api/lives", create_live, methods=["POST"]),
    Route("/api/lives", list_lives, methods=["GET"]),
    Route("/api/lives/{id}", get_live, methods=["GET"]),
    Route("/api/lives/{id}", update_live, methods=["PATCH"]),
    Route("/api/lives/{id}/start", start_live, methods=["POST"]),
    Route("/api/lives/{id}/end", end_live, methods=["POST"]),
    Route("/api/lives/{id}/moderators", list_moderators, methods=["GET"]),
    Route("/api/lives/{id}/moderators/{username}", add_moderator, methods=["PUT"]),
    Route("/api/lives/{id}/moderators/{username}", remove_moderator, methods=["DELETE"]),
]
