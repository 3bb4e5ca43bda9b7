"""Moderation by a live's creator and moderators: delete, mute, ban, slow mode, blocked words.

Every action is written to the audit log (who, what, whom, when, details) in
the same transaction as the action itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import upsert_insert
from common.times import iso_utc, utc, utcnow
from live import chat
from live.errors import InvalidTarget, LiveNotFound
from live.log import EventBatch
from live.models import BlockedWord, Live, LiveBan, LiveMute, ModerationAction
from live.pins import Actor


def audit(
    session: AsyncSession,
    live_id: int,
    actor: Actor,
    action: str,
    target: Actor | None = None,
    **detail: Any,
) -> None:
    session.add(
        ModerationAction(
            live_id=live_id, actor_id=actor.id, actor_name=actor.username, action=action,
            target_id=target.id if target else None,
            target_name=target.username if target else None,
            detail=json.dumps(detail, separators=(",", ":")), at=utcnow(),
        )
    )  # fmt: skip


async def check_target(session: AsyncSession, live_id: int, actor: Actor, target: Actor) -> None:
    live = await session.get(Live, live_id)
    if live is None:
        raise LiveNotFound("live not found")
    if target.id == live.creator_id:
        raise InvalidTarget("the live's creator cannot be muted or banned")
    if target.id == actor.id:
        raise InvalidTarget("you cannot mute or ban yourself")


async def delete_message(batch: EventBatch, live_id: int, actor: Actor, message_id: int) -> None:
    message = await chat.delete(batch, live_id, message_id)
    author = Actor(message.user_id, message.username)
    audit(batch.session, live_id, actor, "delete_chat", author, message_id=message_id,
          text=message.text)  # fmt: skip


async def mute(
    batch: EventBatch, live_id: int, actor: Actor, target: Actor, duration_s: int
) -> datetime:
    """Mute ``target`` for ``duration_s`` (replacing any running mute); returns the end."""
    session = batch.session
    await check_target(session, live_id, actor, target)
    until = utcnow() + timedelta(seconds=duration_s)
    stmt = upsert_insert(session)(LiveMute).values(live_id=live_id, user_id=target.id, until=until)
    await session.exec(
        stmt.on_conflict_do_update(index_elements=["live_id", "user_id"], set_={"until": until})
    )
    audit(session, live_id, actor, "mute", target, duration_s=duration_s, until=iso_utc(until))
    return until


async def unmute(batch: EventBatch, live_id: int, actor: Actor, target: Actor) -> None:
    await batch.session.exec(
        sql_delete(LiveMute).where(col(LiveMute.live_id) == live_id,
                                   col(LiveMute.user_id) == target.id)
    )  # fmt: skip
    audit(batch.session, live_id, actor, "unmute", target)


async def ban(batch: EventBatch, live_id: int, actor: Actor, target: Actor) -> None:
    """Ban ``target`` from the live; the caller then closes their sockets (``Hub.kick``)."""
    session = batch.session
    await check_target(session, live_id, actor, target)
    await session.exec(
        upsert_insert(session)(LiveBan)
        .values(live_id=live_id, user_id=target.id, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    audit(session, live_id, actor, "ban", target)


async def unban(batch: EventBatch, live_id: int, actor: Actor, target: Actor) -> None:
    await batch.session.exec(
        sql_delete(LiveBan).where(
            col(LiveBan.live_id) == live_id, col(LiveBan.user_id) == target.id
        )
    )
    audit(batch.session, live_id, actor, "unban", target)


async def running_mutes(session: AsyncSession, live_id: int) -> list[tuple[int, datetime]]:
    """The live's mutes that have not run out, the soonest to end first: (user id, until)."""
    rows = await session.exec(
        select(LiveMute.user_id, LiveMute.until)
        .where(LiveMute.live_id == live_id, col(LiveMute.until) > utcnow())
        .order_by(col(LiveMute.until), col(LiveMute.user_id))
    )
    return [(user_id, utc(until)) for user_id, until in rows.all()]


async def bans(session: AsyncSession, live_id: int) -> list[tuple[int, datetime]]:
    """The live's bans, the newest first: (user id, when banned)."""
    rows = await session.exec(
        select(LiveBan.user_id, LiveBan.created_at)
        .where(LiveBan.live_id == live_id)
        .order_by(col(LiveBan.created_at).desc(), col(LiveBan.user_id))
    )
    return [(user_id, utc(at)) for user_id, at in rows.all()]


async def set_slow_mode(batch: EventBatch, live_id: int, actor: Actor, seconds: int) -> None:
    """Set slow mode (0 turns it off); announced to everyone as ``slow_mode {seconds}``."""
    await batch.session.exec(
        update(Live).where(col(Live.id) == live_id).values(slow_mode_s=seconds)
    )
    audit(batch.session, live_id, actor, "slow_mode", seconds=seconds)
    await batch.append(live_id, "slow_mode", {"seconds": seconds})


async def set_blocked_words(
    batch: EventBatch, live_id: int, actor: Actor, words: Sequence[str]
) -> list[str]:
    """Replace the live's blocked words (stored case-folded, deduplicated)."""
    session = batch.session
    clean = sorted({w.strip().casefold() for w in words if w.strip()})
    await session.exec(sql_delete(BlockedWord).where(col(BlockedWord.live_id) == live_id))
    session.add_all([BlockedWord(live_id=live_id, word=w) for w in clean])
    audit(session, live_id, actor, "blocked_words", words=clean)
    return clean


async def history(
    session: AsyncSession, live_id: int, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """The audit log, newest first."""
    rows = await session.exec(
        select(ModerationAction)
        .where(ModerationAction.live_id == live_id)
        .order_by(col(ModerationAction.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        {
            "id": row.id,
            "action": row.action,
            "by": {"id": row.actor_id, "username": row.actor_name},
            "target": None
            if row.target_id is None
            else {"id": row.target_id, "username": row.target_name},
            "detail": json.loads(row.detail),
            "at": iso_utc(row.at),
        }
        for row in rows.all()
    ]
