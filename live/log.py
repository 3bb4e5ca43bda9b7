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

from sqlalchemy import Delete, delete, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import run_together
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
        frames, rows = self._staged(live_id, last - len(items) + 1, items)
        self.session.add_all(rows)
        if (prune := _prune(live_id, last, len(items))) is not None:
            await self.session.exec(prune)
        self.frames.extend((live_id, f) for f in frames)
        return frames

    async def append_locked(
        self, live: Live, items: list[tuple[str, dict[str, Any]]], along: Sequence[UpdateBase]
    ) -> list[Frame]:
        """``append_many`` for a live whose row this transaction holds locked
        (``live.pins.lock_live``), so its ``last_seq`` is current and stays so: the seq
        update, the log rows and ``along`` (the transaction's other writes, none reading
        what another writes) go to the database together, one round trip on PostgreSQL.
        A prune then removes what was logged before this call."""
        if live.id is None:
            raise LiveNotFound("live not found")
        if not items:
            await run_together(self.session, along)
            return []
        live_id, last = live.id, live.last_seq + len(items)
        frames, rows = self._staged(live_id, live.last_seq + 1, items)
        steps = [
            *along,
            update(Live).where(col(Live.id) == live_id).values(last_seq=last),
            insert(LiveEvent).values([row.model_dump(exclude={"id"}) for row in rows]),
        ]
        if (prune := _prune(live_id, last, len(items))) is not None:
            steps.append(prune)
        await run_together(self.session, steps)
        set_committed_value(live, "last_seq", last)  # current, and not a change to flush
        self.frames.extend((live_id, f) for f in frames)
        return frames

    @staticmethod
    def _staged(
        live_id: int, first: int, items: list[tuple[str, dict[str, Any]]]
    ) -> tuple[list[Frame], list[LiveEvent]]:
        """The frames of ``items`` numbered from seq ``first``, and their log rows."""
        ts, created = now_ms(), utcnow()
        frames = [
            Frame.make(type_, live_id, data, seq=first + i, ts=ts)
            for i, (type_, data) in enumerate(items)
        ]
        rows = [
            LiveEvent(live_id=live_id, seq=first + i, type=type_, frame=f.text, created_at=created)
            for i, ((type_, _data), f) in enumerate(zip(items, frames, strict=True))
        ]
        return frames, rows


def _prune(live_id: int, last: int, added: int) -> Delete | None:
    """The log's pruning, when appending up to seq ``last`` passes a multiple of
    ``_PRUNE_EVERY``."""
    if last // _PRUNE_EVERY <= (last - added) // _PRUNE_EVERY:
        return None
    keep_from = last - KEEP_EVENTS
    return delete(LiveEvent).where(
        col(LiveEvent.live_id) == live_id, col(LiveEvent.seq) <= keep_from
    )


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
