"""Live sessions: creation, lookup, the scheduled → live → ended lifecycle, moderators.

Every status change is one conditional UPDATE, so two racing requests cannot
both start (or both end) a live, and a live never goes back to ``live``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import get_or_raise, inserted, newest_first, upsert_insert
from common.times import iso_utc, utcnow
from live import pins
from live.errors import InvalidModerator, InvalidState, LiveNotFound
from live.log import EventBatch
from live.models import Live, LiveModerator, LiveStatus

# status → (statuses it may be entered from, timestamp column it sets, verb for messages)
_TRANSITIONS: dict[LiveStatus, tuple[frozenset[LiveStatus], str, str]] = {
    LiveStatus.LIVE: (frozenset({LiveStatus.SCHEDULED}), "started_at", "start"),
    LiveStatus.ENDED: (frozenset({LiveStatus.LIVE}), "ended_at", "end"),
}


async def create_live(
    session: AsyncSession, *, creator_id: int, title: str, stream_url: str | None = None,
    scheduled_at: datetime | None = None,
) -> Live:  # fmt: skip
    live = Live(creator_id=creator_id, title=title, stream_url=stream_url,
                scheduled_at=scheduled_at)  # fmt: skip
    return await inserted(session, live)


# What a live's creator may change, and announce with ``live_updated``.
EDITABLE = ("title", "stream_url", "recording_url", "scheduled_at")


async def edit(batch: EventBatch, live_id: int, changes: Mapping[str, Any]) -> Live:
    """Change some of ``EDITABLE`` (the live's row locked), then ``live_updated`` with the
    fields as they are now. ``scheduled_at`` only while the live is scheduled."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    session = batch.session
    live = await pins.lock_live(session, live_id)
    if "scheduled_at" in changes and live.status != LiveStatus.SCHEDULED:
        raise InvalidState(f"the live is {live.status}: its start time is history",
                           status=live.status)  # fmt: skip
    if not changes:
        return live
    for name, value in changes.items():
        setattr(live, name, value)
    session.add(live)
    await session.flush()
    data = {name: getattr(live, name) for name in EDITABLE}
    if live.scheduled_at is not None:
        data["scheduled_at"] = iso_utc(live.scheduled_at)
    await batch.append(live_id, "live_updated", data)
    return live


async def get_live(session: AsyncSession, live_id: int) -> Live:
    missing = LiveNotFound("live not found", live_id=live_id)
    return await get_or_raise(session, Live, live_id, missing)


async def list_lives(
    session: AsyncSession,
    *,
    status: LiveStatus | None = None,
    creator_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Live]:
    status_value = status.value if status is not None else None
    return await newest_first(
        session, Live, limit=limit, offset=offset, status=status_value, creator_id=creator_id
    )


async def transition(session: AsyncSession, live_id: int, to: LiveStatus) -> Live:
    """Move a live to ``to`` if its current status allows it, atomically."""
    sources, stamp, verb = _TRANSITIONS[to]
    now: datetime = utcnow()
    result = await session.exec(
        update(Live)
        .where(col(Live.id) == live_id, col(Live.status).in_([s.value for s in sources]))
        .values({"status": to.value, stamp: now})
    )
    if result.rowcount != 1:
        live = await get_live(session, live_id)
        raise InvalidState(
            f"cannot {verb} a live that is {live.status}", status=live.status, to=to.value
        )
    live = await get_live(session, live_id)
    await session.refresh(live)
    return live


async def start(batch: EventBatch, live_id: int) -> Live:
    """scheduled → live, announced with ``live_started``."""
    live = await transition(batch.session, live_id, LiveStatus.LIVE)
    await batch.append(live_id, "live_started", {})
    return live


async def end(batch: EventBatch, live_id: int) -> Live:
    """live → ended: unpins (ending any deal), then ``live_ended``. For good."""
    live = await transition(batch.session, live_id, LiveStatus.ENDED)
    await pins.close_live(batch, live)
    await batch.append(live_id, "live_ended", {})
    return live


async def moderator_ids(session: AsyncSession, live_id: int) -> set[int]:
    rows = await session.exec(select(LiveModerator.user_id).where(LiveModerator.live_id == live_id))
    return set(rows.all())


async def is_moderator(session: AsyncSession, live_id: int, user_id: int) -> bool:
    row = await session.get(LiveModerator, (live_id, user_id))
    return row is not None


async def add_moderator(session: AsyncSession, live: Live, user_id: int) -> None:
    """Make ``user_id`` a moderator of ``live``; adding an existing moderator is a no-op.

    ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL alike) makes two racing
    requests for the same moderator both succeed instead of one hitting the key.
    """
    if user_id == live.creator_id:
        raise InvalidModerator("the live's creator cannot be its moderator", user_id=user_id)
    insert = upsert_insert(session)
    await session.exec(
        insert(LiveModerator)
        .values(live_id=live.id, user_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing()
    )


async def remove_moderator(session: AsyncSession, live_id: int, user_id: int) -> None:
    """Remove a moderator; removing someone who is not one is a no-op."""
    await session.exec(
        delete(LiveModerator).where(
            col(LiveModerator.live_id) == live_id, col(LiveModerator.user_id) == user_id
        )
    )
