"""Chat and moderation actions shared by WebSocket frames and REST: same rules, same errors."""

from __future__ import annotations

from datetime import datetime

from app import accounts
from app.accounts import Role, User
from app.errors import ApiError
from app.fields import USERNAME_RE
from app.live_actions import authorize_on_live
from app.permissions import Action
from app.state import AppState
from live import chat, close_codes, lives, moderation
from live.claims import Claim, Entry
from live.errors import SignInRequired
from live.models import Live
from live.pins import Actor

BAN_MESSAGE = "you have been banned from this live"


def actor(user: User) -> Actor:
    return Actor(user.uid, user.username)


async def send_chat(
    state: AppState, user: User | None, live_id: int, text: str
) -> Claim | Entry | None:
    """Send a chat message; returns the claim it makes on the pinned product (``app.claims``
    places it) or its entry to the open giveaway (``app.giveaway_actions``), if any."""
    if user is None:
        raise SignInRequired("sign in to chat")
    # Admins skip slow mode; the live's creator and moderators too, found in the read the
    # message's checks make anyway (a storm of comments is one read session each).
    exempt = user.role == Role.ADMIN
    limits = chat.ChatLimits(state.settings.chat_rate, state.settings.chat_burst)
    _data, claim = await chat.send(state.hub, live_id, actor(user), text, limits=limits,
                                   desk=state.chat_desk, exempt_from_slow_mode=exempt)  # fmt: skip
    return claim


async def _moderator(state: AppState, user: User | None, live_id: int) -> tuple[User, Live]:
    return await authorize_on_live(state, user, live_id, Action.MODERATE_LIVE)


async def _target(state: AppState, mod: User, live: Live, username: str) -> Actor:
    """The user a moderation action aims at: 404 unknown; moderators cannot act on each other
    (only the live's creator and admins can mute or ban a moderator)."""
    target = None
    if USERNAME_RE.fullmatch(username):
        async with state.db.read() as session:
            target = await accounts.get_by_username(session, username)
    if target is None:
        raise ApiError(404, "user_not_found", "no user with that username")
    if mod.id != live.creator_id and mod.role != Role.ADMIN:
        async with state.db.read() as session:
            target_is_mod = await lives.is_moderator(session, live.id or 0, target.uid)
        if target_is_mod:
            raise ApiError(403, "forbidden", "only the creator can mute or ban a moderator")
    return Actor(target.uid, target.username)


async def delete_chat(state: AppState, user: User | None, live_id: int, message_id: int) -> None:
    mod, _live = await _moderator(state, user, live_id)
    async with state.hub.transaction() as batch:
        await moderation.delete_message(batch, live_id, actor(mod), message_id)


async def mute(
    state: AppState, user: User | None, live_id: int, username: str, duration_s: int
) -> tuple[Actor, datetime]:
    mod, live = await _moderator(state, user, live_id)
    target = await _target(state, mod, live, username)
    async with state.hub.transaction() as batch:
        until = await moderation.mute(batch, live_id, actor(mod), target, duration_s)
    return target, until


async def unmute(state: AppState, user: User | None, live_id: int, username: str) -> None:
    mod, live = await _moderator(state, user, live_id)
    target = await _target(state, mod, live, username)
    async with state.hub.transaction() as batch:
        await moderation.unmute(batch, live_id, actor(mod), target)


async def ban(state: AppState, user: User | None, live_id: int, username: str) -> Actor:
    mod, live = await _moderator(state, user, live_id)
    target = await _target(state, mod, live, username)
    async with state.hub.transaction() as batch:
        await moderation.ban(batch, live_id, actor(mod), target)
    await state.hub.kick(target.id, live_id, "banned", close_codes.BANNED, BAN_MESSAGE)
    # After the kick, so sockets it reaches are told why first; this one also reaches
    # sockets still joining, which the kick may miss.
    await state.hub.publisher.control(live_id, "ban", target.id)
    return target


async def unban(state: AppState, user: User | None, live_id: int, username: str) -> None:
    mod, live = await _moderator(state, user, live_id)
    target = await _target(state, mod, live, username)
    async with state.hub.transaction() as batch:
        await moderation.unban(batch, live_id, actor(mod), target)
    await state.hub.publisher.control(live_id, "unban", target.id)


async def slow_mode(state: AppState, user: User | None, live_id: int, seconds: int) -> None:
    mod, _live = await _moderator(state, user, live_id)
    async with state.hub.transaction() as batch:
        await moderation.set_slow_mode(batch, live_id, actor(mod), seconds)
