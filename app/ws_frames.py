"""What a live's socket does with each client frame (``{"type", ...}``): the handlers.

Each handler validates its frame's fields, acts through the same actions as REST (same
rules, same errors), and answers on the socket when the action has no broadcast of its
own (``waitlisted``, ``giveaway_entered``, ``pong``). Errors are raised; the socket
(``app.routes.ws``) turns them into ``error`` frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from app import chat_actions, claims
from app.accounts import User
from app.auction_actions import place_bid
from app.auction_schemas import BidFrameIn
from app.errors import ApiError
from app.giveaway_actions import enter
from app.giveaway_schemas import EnterFrameIn
from app.live_actions import pin_product, unpin_product
from app.schemas import ChatIn, DeleteChatIn, MuteIn, PinIn, SlowModeIn, TargetIn
from app.state import AppState
from live.claims import Entry
from live.served import Viewer


class Session(Protocol):
    """The socket a frame came from."""

    state: AppState
    viewer: Viewer
    user: User | None

    def reply(self, type_: str, data: dict[str, Any]) -> None: ...


Handler = Callable[[Session, dict[str, Any]], Awaitable[None]]


async def _ping(session: Session, _payload: dict[str, Any]) -> None:
    session.reply("pong", {})


async def _pin(session: Session, payload: dict[str, Any]) -> None:
    body = PinIn.model_validate(_fields(payload))
    await pin_product(session.state, session.user, session.viewer.live_id, body)


async def _unpin(session: Session, _payload: dict[str, Any]) -> None:
    await unpin_product(session.state, session.user, session.viewer.live_id)


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "type"}


async def _chat(session: Session, payload: dict[str, Any]) -> None:
    """A chat line; one that claims the pinned product (comment-to-buy) then places its
    order: the outcome is this socket's (``error``/``waitlisted``) or the buyer's ``order``;
    one that says the open giveaway's keyword enters it (``giveaway_entered``/``error``)."""
    body = ChatIn.model_validate(_fields(payload))
    live_id = session.viewer.live_id
    made = await chat_actions.send_chat(session.state, session.user, live_id, body.text)
    if made is None or session.user is None:
        return
    if isinstance(made, Entry):
        try:
            await _entered(session, made.giveaway_id)
        except ApiError as exc:
            if exc.code != "staff_cannot_enter":  # the host saying "type WIN": just chat
                raise
        return
    waiting = await claims.claim(session.state, session.user, made)
    if waiting is not None:
        session.reply("waitlisted", waiting)


async def _enter(session: Session, payload: dict[str, Any]) -> None:
    body = EnterFrameIn.model_validate(_fields(payload))
    await _entered(session, body.giveaway_id)


async def _entered(session: Session, giveaway_id: int) -> None:
    """Enter the giveaway from this socket (watching its live); tell this socket."""
    live_id = session.viewer.live_id
    count = await enter(session.state, session.user, giveaway_id, on_live=live_id)
    session.reply("giveaway_entered", {"giveaway_id": giveaway_id, "entries": count})


async def _delete_chat(session: Session, payload: dict[str, Any]) -> None:
    body = DeleteChatIn.model_validate(_fields(payload))
    await chat_actions.delete_chat(session.state, session.user, session.viewer.live_id, body.id)


async def _mute(session: Session, payload: dict[str, Any]) -> None:
    body = MuteIn.model_validate(_fields(payload))
    await chat_actions.mute(
        session.state, session.user, session.viewer.live_id, body.username, body.duration_s
    )


def _on_user(action: Callable[[AppState, User | None, int, str], Awaitable[object]]) -> Handler:
    """A handler for frames naming a user: ``{"type", "username"}``."""

    async def handler(session: Session, payload: dict[str, Any]) -> None:
        body = TargetIn.model_validate(_fields(payload))
        await action(session.state, session.user, session.viewer.live_id, body.username)

    return handler


async def _bid(session: Session, payload: dict[str, Any]) -> None:
    """The answer to an accepted bid is its ``bid`` broadcast; a refusal an error frame."""
    body = BidFrameIn.model_validate(_fields(payload))
    live_id = session.viewer.live_id
    await place_bid(session.state, session.user, body.auction_id, body, on_live=live_id)


async def _slow_mode(session: Session, payload: dict[str, Any]) -> None:
    body = SlowModeIn.model_validate(_fields(payload))
    await chat_actions.slow_mode(session.state, session.user, session.viewer.live_id, body.seconds)


HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "pin": _pin,
    "unpin": _unpin,
    "chat": _chat,
    "delete_chat": _delete_chat,
    "mute": _mute,
    "unmute": _on_user(chat_actions.unmute),
    "ban": _on_user(chat_actions.ban),
    "unban": _on_user(chat_actions.unban),
    "slow_mode": _slow_mode,
    "bid": _bid,
    "enter": _enter,
}
