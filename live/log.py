"""The replay log and the seq counter, both in the database.

``seq`` is assigned by incrementing ``lives.last_seq`` inside the same write
transaction that changes the live's state and stores the event's frame, so:

- seq is strictly +1 per live and survives restarts of the server *and* of Redis;
- a snapshot read from the live row is consistent with the seq it reports;
- an event exists in the log iff its state change was committed.

The broker only transports committed frames (see ``live.hub``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.times import utcnow
from live.errors import LiveNotFound
from live.frames import Frame, now_ms
from live.models import Live, LiveEvent

# Events kept per live; older ones are pruned (the contract asks for ≥ 1,000).
KEEP_EVENTS = 5_000
_PRUNE_EVERY = 500


class EventBatch:
    """Events appended inside one write transaction; published after it commits.

    ``session`` is the transaction's session: state changes made through it and
    the events appended here commit (or roll back) together.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.frames: list[tuple[int, Frame]] = []

    async def append(self, live_id: int, type_: str, data: dict[str, Any]) -> Frame:
        (frame,) = await self.append_many(live_id, [(type_, data)])
        return frame

    async def append_many(
        self, live_id: int, items: list[tuple[str, dict[str, Any]]]
    ) -> list[Frame]:
        """Several events of one live, in this order: one seq update for all of them and
        their log rows in one INSERT. The log is pruned each time it passes a multiple
        of ``_PRUNE_EVERY``."""
        if not items:
            return []
        result = await self.session.exec(
            update(Live)
            .where(col(Live.id) == live_id)
            .values(last_seq=col(Live.last_seq) + len(items))
            .returning(col(Live.last_seq))
        )
        last = result.scalar_one_or_none()
        if last is None:
            raise LiveNotFound("live not found", live_id=live_id)
        first, ts, created = last - len(items) + 1, now_ms(), utcnow()
        frames = [
            Frame.make(type_, live_id, data, seq=first + i, ts=ts)
            for i, (type_, data) in enumerate(items)
        ]
        self.session.add_all(
            LiveEvent(live_id=live_id, seq=first + i, type=type_, frame=f.text,
                      created_at=created)
            for i, ((type_, _data), f) in enumerate(zip(items, frames, strict=True))
        )  # fmt: skip
        if last // _PRUNE_EVERY > (first - 1) // _PRUNE_EVERY:
            await self.session.exec(
                delete(LiveEvent).where(
                    col(LiveEvent.live_id) == live_id, col(LiveEvent.seq) <= last - KEEP_EVENTS
                )
            )
        self.frames.extend((live_id, f) for f in frames)
        return frames


async def events_after(
    session: AsyncSession, live_id: int, after: int, limit: int | None = None
) -> list[Frame]:
    """Logged frames with ``seq > after``, oldest first (at most ``limit``)."""
    query = (
        select(LiveEvent.seq, LiveEvent.frame)
        .where(LiveEvent.live_id == live_id, col(LiveEvent.seq) > after)
        .order_by(col(LiveEvent.seq))
    )
    if limit is not None:
        query = query.limit(limit)
    rows: Sequence[tuple[int, str]] = (await session.exec(query)).all()
    return [Frame(text, seq) for seq, text in rows]


async def last_seq(session: AsyncSession, live_id: int) -> int:
    value = (await session.exec(select(Live.last_seq).where(Live.id == live_id))).first()
    if value is None:
        raise LiveNotFound("live not found", live_id=live_id)
    return value
