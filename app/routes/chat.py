"""Chat history and moderation over REST (the same actions as the WebSocket frames)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import chat_actions
from app.accounts import User
from app.auth import optional_user, require_user
from app.http import (
    PAGE,
    int_param,
    operation,
    page,
    parse_body,
    parse_id,
    path_id,
    query_int,
    respond,
    state,
)
from app.live_actions import authorize_on_live, live_facts
from app.permissions import Action, allowed
from app.schemas import (
    ActorOut,
    BlockedWordsIn,
    BlockedWordsOut,
    ChatList,
    ModerationList,
    MuteBody,
    MuteOut,
    SlowModeIn,
    SlowModeOut,
)
from common.times import iso_utc
from live import chat, lives, moderation

_MOD_ERRORS = {401: None, 403: None, 404: None}


class MuteEntry(BaseModel):
    user: ActorOut
    until: str  # ISO 8601 UTC


class MuteList(BaseModel):
    mutes: list[MuteEntry]


class BanEntry(BaseModel):
    user: ActorOut
    at: str  # ISO 8601 UTC


class BanList(BaseModel):
    bans: list[BanEntry]


class CanModerateOut(BaseModel):
    can_moderate: bool


@operation("Recent chat, oldest first (deleted messages left out)",
           auth="optional", responses={200: ChatList, 404: None},
           query={"limit": int_param("how many, default 50", low=1, high=200)},
           tags=("chat",))  # fmt: skip
async def recent(request: Request) -> Response:
    await optional_user(request)
    live_id = path_id(request, "live")
    limit = query_int(request, "limit", default=50, low=1, high=200) or 50
    async with state(request).db.read() as session:
        await lives.get_live(session, live_id)
        messages = await chat.recent(session, live_id, limit)
    return respond({"messages": messages})


@operation("Delete a chat message (creator or moderator)", auth=True,
           responses={204: None, **_MOD_ERRORS}, tags=("chat",))  # fmt: skip
async def delete_message(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    message_id = parse_id(str(request.path_params["message_id"]), "message")
    await chat_actions.delete_chat(state(request), user, live_id, message_id)
    return Response(status_code=204)


@operation("Mute a user on the live for duration_s (creator or moderator)", auth=True,
           body=MuteBody, responses={200: MuteOut, **_MOD_ERRORS, 422: None},
           tags=("chat",))  # fmt: skip
async def mute(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    body = await parse_body(request, MuteBody)
    target, until = await chat_actions.mute(
        state(request), user, live_id, str(request.path_params["username"]), body.duration_s
    )
    return respond({"mute": {"username": target.username, "until": iso_utc(until)}})


@operation("Unmute a user (creator or moderator)", auth=True,
           responses={204: None, **_MOD_ERRORS}, tags=("chat",))  # fmt: skip
async def unmute(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    await chat_actions.unmute(state(request), user, live_id, str(request.path_params["username"]))
    return Response(status_code=204)


@operation("Ban a user from the live: sockets closed (4403), reconnects refused",
           auth=True, responses={204: None, **_MOD_ERRORS, 422: None},
           tags=("chat",))  # fmt: skip
async def ban(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    await chat_actions.ban(state(request), user, live_id, str(request.path_params["username"]))
    return Response(status_code=204)


@operation("Lift a ban (creator or moderator)", auth=True,
           responses={204: None, **_MOD_ERRORS}, tags=("chat",))  # fmt: skip
async def unban(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    await chat_actions.unban(state(request), user, live_id, str(request.path_params["username"]))
    return Response(status_code=204)


@operation("Set slow mode: one message per user every N seconds, 0 = off (creator or "
           "moderator)", auth=True, body=SlowModeIn,
           responses={200: SlowModeOut, **_MOD_ERRORS, 422: None}, tags=("chat",))  # fmt: skip
async def slow_mode(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    body = await parse_body(request, SlowModeIn)
    await chat_actions.slow_mode(state(request), user, live_id, body.seconds)
    return respond(SlowModeOut(slow_mode=body))


@operation("The live's blocked words (creator or moderator)", auth=True,
           responses={200: BlockedWordsOut, **_MOD_ERRORS}, tags=("chat",))  # fmt: skip
async def get_blocked_words(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    async with st.db.read() as session:
        words = await chat.blocked_words(session, live_id)
    return respond(BlockedWordsOut(blocked_words=words))


@operation("Replace the blocked words; messages containing one are refused (creator or "
           "moderator)", auth=True, body=BlockedWordsIn,
           responses={200: BlockedWordsOut, **_MOD_ERRORS, 422: None},
           tags=("chat",))  # fmt: skip
async def put_blocked_words(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    mod, _live = await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    body = await parse_body(request, BlockedWordsIn)
    async with st.hub.transaction() as batch:
        words = await moderation.set_blocked_words(
            batch, live_id, chat_actions.actor(mod), body.words
        )
    return respond(BlockedWordsOut(blocked_words=words))


@operation("The moderation audit log, newest first (creator or moderator)", auth=True,
           responses={200: ModerationList, **_MOD_ERRORS}, query=PAGE,
           tags=("chat",))  # fmt: skip
async def audit_log(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    limit, offset = page(request)
    async with st.db.read() as session:
        actions = await moderation.history(session, live_id, limit=limit, offset=offset)
    return respond({"actions": actions})


async def _named(
    session: AsyncSession, rows: Sequence[tuple[int, datetime]]
) -> list[tuple[ActorOut, str]]:
    """(user id, time) rows as (``{id, username}``, ISO time), in the same order."""
    ids = [user_id for user_id, _at in rows]
    found = await session.exec(select(User.id, User.username).where(col(User.id).in_(ids)))
    names: dict[int | None, str] = dict(found.all())
    return [(ActorOut(id=uid, username=names[uid]), iso_utc(at)) for uid, at in rows
            if uid in names]  # fmt: skip


@operation("Users muted on the live right now, the soonest unmuted first (creator or "
           "moderator)", auth=True, responses={200: MuteList, **_MOD_ERRORS},
           tags=("chat",))  # fmt: skip
async def list_mutes(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    async with st.db.read() as session:
        named = await _named(session, await moderation.running_mutes(session, live_id))
    return respond(MuteList(mutes=[MuteEntry(user=who, until=at) for who, at in named]))


@operation("Users banned from the live, the newest ban first (creator or moderator)",
           auth=True, responses={200: BanList, **_MOD_ERRORS}, tags=("chat",))  # fmt: skip
async def list_bans(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    await authorize_on_live(st, user, live_id, Action.MODERATE_LIVE)
    async with st.db.read() as session:
        named = await _named(session, await moderation.bans(session, live_id))
    return respond(BanList(bans=[BanEntry(user=who, at=at) for who, at in named]))


@operation("Whether the caller may moderate the live (its creator, a moderator or an "
           "admin): lets a page offer moderation without a 403",
           auth=True, responses={200: CanModerateOut, 401: None, 404: None},
           tags=("chat",))  # fmt: skip
async def can_moderate(request: Request) -> Response:
    user = await require_user(request)
    live_id = path_id(request, "live")
    st = state(request)
    async with st.db.read() as session:
        live = await lives.get_live(session, live_id)
    may = allowed(user, Action.MODERATE_LIVE, await live_facts(st, live, user))
    return respond(CanModerateOut(can_moderate=may))


routes = [
    Route("/api/lives/{id}/chat", recent, methods=["GET"]),
    Route("/api/lives/{id}/chat/{message_id}", delete_message, methods=["DELETE"]),
    Route("/api/lives/{id}/mutes", list_mutes, methods=["GET"]),
    Route("/api/lives/{id}/mutes/{username}", mute, methods=["PUT"]),
    Route("/api/lives/{id}/mutes/{username}", unmute, methods=["DELETE"]),
    Route("/api/lives/{id}/bans", list_bans, methods=["GET"]),
    Route("/api/lives/{id}/bans/{username}", ban, methods=["PUT"]),
    Route("/api/lives/{id}/bans/{username}", unban, methods=["DELETE"]),
    Route("/api/lives/{id}/slow-mode", slow_mode, methods=["PUT"]),
    Route("/api/lives/{id}/blocked-words", get_blocked_words, methods=["GET"]),
    Route("/api/lives/{id}/blocked-words", put_blocked_words, methods=["PUT"]),
    Route("/api/lives/{id}/moderation", audit_log, methods=["GET"]),
    Route("/api/lives/{id}/can-moderate", can_moderate, methods=["GET"]),
]
