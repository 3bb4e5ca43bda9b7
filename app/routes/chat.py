"""Chat history and moderation over REST (the same actions as the WebSocket frames)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import chat_actions
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
from app.live_actions import authorize_on_live
from app.permissions import Action
from app.schemas import (
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


routes = [
    Route("/api/lives/{id}/chat", recent, methods=["GET"]),
    Route("/api/lives/{id}/chat/{message_id}", delete_message, methods=["DELETE"]),
    Route("/api/lives/{id}/mutes/{username}", mute, methods=["PUT"]),
    Route("/api/lives/{id}/mutes/{username}", unmute, methods=["DELETE"]),
    Route("/api/lives/{id}/bans/{username}", ban, methods=["PUT"]),
    Route("/api/lives/{id}/bans/{username}", unban, methods=["DELETE"]),
    Route("/api/lives/{id}/slow-mode", slow_mode, methods=["PUT"]),
    Route("/api/lives/{id}/blocked-words", get_blocked_words, methods=["GET"]),
    Route("/api/lives/{id}/blocked-words", put_blocked_words, methods=["PUT"]),
    Route("/api/lives/{id}/moderation", audit_log, methods=["GET"]),
]
