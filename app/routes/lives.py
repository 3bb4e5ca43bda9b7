"""Lives: create, list, the lifecycle, moderators."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import accounts
from app.accounts import User
from app.auth import optional_user, require_user
from app.errors import ApiError
from app.http import operation, page, parse_body, path_id, query_int, respond, state
from app.permissions import Action, Facts, authorize
from app.routes.accounts import user_out
from app.schemas import LiveEnvelope, LiveIn, LiveList, LiveOut, ModeratorList
from live import lives
from live.models import Live, LiveStatus

_STATUS_QUERY = ", ".join(s.value for s in LiveStatus)


def live_out(live: Live) -> LiveOut:
    return LiveOut.model_validate(live, from_attributes=True)


async def live_facts(session: AsyncSession, live: Live, user: User | None) -> Facts:
    """Ownership and moderatorship of ``user`` on ``live``, for ``authorize``."""
    is_mod = (
        user is not None
        and live.id is not None
        and user.id != live.creator_id
        and await lives.is_moderator(session, live.id, user.uid)
    )
    return Facts(owner_id=live.creator_id, is_moderator=is_mod)


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
    async with state(request).db.write() as session:
        live = await lives.create_live(
            session, creator_id=user.uid, title=body.title, stream_url=body.stream_url
        )
    return respond(LiveEnvelope(live=live_out(live)), 201)


@operation(
    "List lives, newest first",
    responses={200: LiveList, 422: None},
    query={
        "status": _STATUS_QUERY,
        "creator_id": "only this creator's lives",
        "limit": "1-200, default 50",
        "offset": "skip this many",
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
    async with state(request).db.read() as session:
        found = await lives.list_lives(
            session, status=status, creator_id=creator_id, limit=limit, offset=offset
        )
    return respond(LiveList(lives=[live_out(live) for live in found]))


@operation("One live", responses={200: LiveEnvelope, 404: None}, tags=("lives",))
async def get_live(request: Request) -> Response:
    live_id = path_id(request, "live")
    async with state(request).db.read() as session:
        live = await lives.get_live(session, live_id)
    return respond(LiveEnvelope(live=live_out(live)))


async def _transition(request: Request, to: LiveStatus) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    async with state(request).db.write() as session:
        live = await lives.get_live(session, live_id)
        authorize(user, Action.RUN_LIVE, Facts(owner_id=live.creator_id))
        live = await lives.transition(session, live_id, to)
    return respond(LiveEnvelope(live=live_out(live)))


@operation(
    "Go live (its creator); only from scheduled",
    auth=True,
    responses={200: LiveEnvelope, 401: None, 403: None, 404: None, 409: None},
    tags=("lives",),
)
async def start_live(request: Request) -> Response:
    return await _transition(request, LiveStatus.LIVE)


@operation(
    "End the live (its creator); only while live, and for good",
    auth=True,
    responses={200: LiveEnvelope, 401: None, 403: None, 404: None, 409: None},
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
    responses={200: ModeratorList, 401: None, 403: None, 404: None},
    tags=("lives",),
)
async def list_moderators(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    async with state(request).db.read() as session:
        live = await lives.get_live(session, live_id)
        authorize(user, Action.MODERATE_LIVE, await live_facts(session, live, user))
        result = await _moderators(session, live_id)
    return respond(result)


async def _moderator_target(request: Request) -> tuple[User, int, User | None]:
    user = await require_user(request)
    live_id = path_id(request, "live")
    username = str(request.path_params["username"])
    async with state(request).db.read() as session:
        live = await lives.get_live(session, live_id)
        authorize(user, Action.MANAGE_MODERATORS, Facts(owner_id=live.creator_id))
        target = await accounts.get_by_username(session, username) if len(username) <= 32 else None
    return user, live_id, target


@operation(
    "Make a user a moderator of the live (its creator); idempotent",
    auth=True,
    responses={200: ModeratorList, 401: None, 403: None, 404: None, 422: None},
    tags=("lives",),
)
async def add_moderator(request: Request) -> Response:
    _user, live_id, target = await _moderator_target(request)
    if target is None:
        raise ApiError(404, "user_not_found", "no user with that username")
    async with state(request).db.write() as session:
        live = await lives.get_live(session, live_id)
        await lives.add_moderator(session, live, target.uid)
        result = await _moderators(session, live_id)
    return respond(result)


@operation(
    "Remove a moderator (its creator); idempotent",
    auth=True,
    responses={204: None, 401: None, 403: None, 404: None},
    tags=("lives",),
)
async def remove_moderator(request: Request) -> Response:
    _user, live_id, target = await _moderator_target(request)
    if target is None:
        raise ApiError(404, "user_not_found", "no user with that username")
    async with state(request).db.write() as session:
        await lives.remove_moderator(session, live_id, target.uid)
    return Response(status_code=204)


routes = [
    Route("/api/lives", create_live, methods=["POST"]),
    Route("/api/lives", list_lives, methods=["GET"]),
    Route("/api/lives/{id}", get_live, methods=["GET"]),
    Route("/api/lives/{id}/start", start_live, methods=["POST"]),
    Route("/api/lives/{id}/end", end_live, methods=["POST"]),
    Route("/api/lives/{id}/moderators", list_moderators, methods=["GET"]),
    Route("/api/lives/{id}/moderators/{username}", add_moderator, methods=["PUT"]),
    Route("/api/lives/{id}/moderators/{username}", remove_moderator, methods=["DELETE"]),
]
