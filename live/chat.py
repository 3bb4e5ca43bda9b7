"""Live chat: who may say what, how often, and what everyone sees.

A message is refused (with an ``error`` frame to its sender only) when the
sender is anonymous, banned or muted on the live, when its text is empty,
over 500 characters or has control characters, when it contains a blocked
word (refused, never shown — not even to its sender — so a blocked list
cannot be probed by watching one's own screen), when the sender is over the
rate limit (a token bucket per user per live) or inside the live's slow-mode
interval. Limits live in the broker, so with Redis they hold across processes;
while Redis is unreachable they fall back to this process's own limiter.
The live's creator and moderators are exempt from slow mode, not from rate
limits.

An accepted message is stored and broadcast as ``chat {id, user, text, at}``
with a seq; the last 50 undeleted messages ride in every snapshot.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common import keys
from common.times import utc, utcnow
from live import textnorm
from live.broker import COOLDOWN_MAX_S, Broker
from live.chat_desk import ChatDesk, message_view
from live.claims import Claim, Entry, quantity_claimed, says
from live.errors import (
    Banned,
    BlockedWordUsed,
    ChatMessageNotFound,
    ChatRateLimited,
    InvalidState,
    InvalidText,
    LiveNotFound,
    Muted,
    SlowModeActive,
)
from live.hub import Hub
from live.lives import is_moderator
from live.log import EventBatch
from live.models import (
    BlockedWord,
    ChatMessage,
    Giveaway,
    Live,
    LiveBan,
    LiveMute,
    LivePin,
    LiveStatus,
)
from live.pins import Actor
from live.ratelimit import LocalLimits

log = logging.getLogger("livecart.chat")

MAX_TEXT = 500
RECENT = 50


@dataclass(frozen=True)
class ChatLimits:
    """Per user per live: ``rate`` messages a second sustained, bursts of ``burst``."""

    rate: float = 1.0
    burst: int = 5


def clean_text(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidText("say something: the message is empty")
    if len(text) > MAX_TEXT:
        raise InvalidText(f"messages are at most {MAX_TEXT} characters")
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in text):
        raise InvalidText("messages cannot contain control characters")
    if textnorm.has_bidi_control(text):
        raise InvalidText("messages cannot contain bidirectional override characters")
    return text


async def recent(session: AsyncSession, live_id: int, limit: int = RECENT) -> list[dict[str, Any]]:
    """The last ``limit`` undeleted messages, oldest first."""
    rows = await session.exec(
        select(ChatMessage)
        .where(ChatMessage.live_id == live_id, col(ChatMessage.deleted_at).is_(None))
        .order_by(col(ChatMessage.id).desc())
        .limit(limit)
    )
    return [message_view(m) for m in reversed(rows.all())]


async def mute_left(session: AsyncSession, live_id: int, user_id: int) -> float:
    """Seconds the user stays muted on the live (0 when not muted)."""
    mute = await session.get(LiveMute, (live_id, user_id))
    if mute is None:
        return 0.0
    return max(0.0, (utc(mute.until) - utcnow()).total_seconds())


async def is_banned(session: AsyncSession, live_id: int, user_id: int) -> bool:
    return await session.get(LiveBan, (live_id, user_id)) is not None


async def blocked_words(session: AsyncSession, live_id: int) -> list[str]:
    rows = await session.exec(
        select(BlockedWord.word).where(BlockedWord.live_id == live_id).order_by(BlockedWord.word)
    )
    return list(rows.all())


def contains_blocked(text: str, words: list[str]) -> bool:
    """Whole words, case-insensitively (so "class" is not caught by "ass"); a blocked
    "word" may contain symbols ("$$$"): it must just not touch letters or digits.
    Both sides are folded (``live.text.fold``), so zero-width characters, fullwidth
    forms and Cyrillic or Greek look-alikes do not slip a blocked word through."""
    folded = [f for f in (textnorm.fold(w) for w in words) if f]
    if not folded:
        return False
    pattern = r"(?<!\w)(?:" + "|".join(re.escape(w) for w in folded) + r")(?!\w)"
    return re.search(pattern, textnorm.fold(text)) is not None


def retry_after(seconds: float) -> float:
    """Seconds to wait, rounded up to 1/100 s and never 0: retrying earlier is refused."""
    return max(0.01, math.ceil(seconds * 100) / 100)


# Stand-ins for each broker's shared limiter while it is unreachable (keyed by the
# broker, so each app in a process has its own and they go when it goes).
_fallbacks: WeakKeyDictionary[Broker, LocalLimits] = WeakKeyDictionary()
_WARN_EVERY_S = 60.0
_last_warning = -_WARN_EVERY_S


async def _limit(
    hub: Hub, shared: Awaitable[float], local: Callable[[LocalLimits], float]
) -> float:
    """The shared limiter's answer; while it (Redis) is unreachable, this process's own:
    chat keeps working through a Redis outage, and its limits still hold per process."""
    global _last_warning
    try:
        return await shared
    except Exception as exc:
        now = time.monotonic()
        if now - _last_warning >= _WARN_EVERY_S:  # one line a minute, not one per message
            _last_warning = now
            log.warning("chat limiter unavailable, limiting in this process: %r", exc)
        fallback = _fallbacks.get(hub.broker)
        if fallback is None:
            fallback = _fallbacks[hub.broker] = LocalLimits(COOLDOWN_MAX_S)
        return local(fallback)


async def take_token(hub: Hub, key: str, rate: float, burst: int) -> float:
    """A token from the shared bucket ``key`` (this process's own while Redis is
    unreachable): 0.0 when allowed, else the seconds until one is available."""
    return await _limit(
        hub,
        hub.broker.take_token(key, rate, burst),
        lambda local: local.take_token(key, rate, burst),
    )


async def send(
    hub: Hub,
    live_id: int,
    sender: Actor,
    raw_text: str,
    *,
    limits: ChatLimits,
    desk: ChatDesk,
    exempt_from_slow_mode: bool = False,
) -> tuple[dict[str, Any], Claim | Entry | None]:
    """Check and broadcast one chat message; returns its data and, when it claims the
    pinned product or enters the open giveaway (``live.claims``), the claim or entry.
    Raises a LiveError to refuse."""
    text = clean_text(raw_text)
    async with hub.sessions.read() as session:
        live = await session.get(Live, live_id)
        if live is None:
            raise LiveNotFound("live not found")
        if live.status == LiveStatus.ENDED:
            raise InvalidState("the live has ended: chat is closed")
        if await is_banned(session, live_id, sender.id):
            raise Banned("you are banned from this live")
        left = await mute_left(session, live_id, sender.id)
        if left > 0:
            raise Muted(f"you are muted for {left:.0f} more seconds", retry_after=retry_after(left))
        if contains_blocked(text, await blocked_words(session, live_id)):
            raise BlockedWordUsed("the message contains a blocked word and was not sent")
        slow_mode = live.slow_mode_s
        if slow_mode and not exempt_from_slow_mode:  # the live's staff are exempt
            exempt_from_slow_mode = live.creator_id == sender.id or await is_moderator(
                session, live_id, sender.id
            )
        pin = await claimable_pin(session, live)
        giveaway = await entry_keyword(session, live_id)
    wait = await take_token(hub, keys.chat_bucket(live_id, sender.id), limits.rate, limits.burst)
    if wait > 0:
        raise ChatRateLimited("you are sending messages too fast", retry_after=retry_after(wait))
    if slow_mode and not exempt_from_slow_mode:
        cooldown = keys.chat_cooldown(live_id, sender.id)
        left = await _limit(
            hub,
            hub.broker.cooldown(cooldown, slow_mode),
            lambda local: local.cooldown(cooldown, slow_mode),
        )
        if left > 0:
            raise SlowModeActive(
                f"slow mode: one message every {slow_mode} s", retry_after=retry_after(left)
            )
    message = await desk.write(live_id, sender, text)
    data = message_view(message)
    if message.id is None:
        return data, None
    if pin is not None and pin.claim_keyword:
        quantity = quantity_claimed(text, pin.claim_keyword)
        if quantity is not None:
            product_id = pin.product_id if pin.id == live.pin_id else None
            return data, Claim(live_id, product_id, message.id, quantity)
    if giveaway is not None and says(text, giveaway[1]):
        return data, Entry(live_id, giveaway[0], message.id)
    return data, None


async def claimable_pin(session: AsyncSession, live: Live) -> LivePin | None:
    """The pin whose keyword a message may claim with: the current one, else the last one
    (a claim that comes after the unpin is refused, not taken for chat)."""
    if live.pin_id is not None:
        return await session.get(LivePin, live.pin_id)
    query = select(LivePin).where(LivePin.live_id == live.id).order_by(col(LivePin.id).desc())
    return (await session.exec(query.limit(1))).first()


async def entry_keyword(session: AsyncSession, live_id: int) -> tuple[int, str] | None:
    """The live's open giveaway that chatting a keyword enters: (id, keyword)."""
    query = select(Giveaway.id, Giveaway.keyword).where(
        Giveaway.live_id == live_id, Giveaway.status == "open", col(Giveaway.keyword).is_not(None)
    )
    row = (await session.exec(query.limit(1))).first()
    return None if row is None or row[0] is None or row[1] is None else (row[0], row[1])


async def delete(batch: EventBatch, live_id: int, message_id: int) -> ChatMessage:
    """Delete a message (once): ``chat_deleted {id}`` to everyone; gone from snapshots."""
    message = await batch.session.get(ChatMessage, message_id)
    if message is None or message.live_id != live_id:
        raise ChatMessageNotFound("no such message on this live", message_id=message_id)
    result = await batch.session.exec(
        update(ChatMessage)
        .where(col(ChatMessage.id) == message_id, col(ChatMessage.deleted_at).is_(None))
        .values(deleted_at=utcnow())
    )
    if result.rowcount == 1:
        await batch.append(live_id, "chat_deleted", {"id": message_id})
    return message
