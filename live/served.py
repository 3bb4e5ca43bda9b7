"""What a process keeps about each live it serves: its viewers, roster, ordered frames
(``live.channel``) and the shared snapshot, advanced in memory between builds.

Also the types the hub is wired with: database sessions, the snapshot builder and
the function that advances a snapshot by one event.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from live import log
from live.channel import Channel
from live.frames import Frame
from live.roster import Roster
from live.sinks import Sink

REPLAY_LIMIT = 2_000  # frames fetched from the log per query
SNAPSHOT_MAX_LAG = 500  # events a cached snapshot is advanced by in memory; more: rebuild
_COUNT = "\x00count\x00"  # where a snapshot template takes its viewer count
_COUNT_JSON = '"\\u0000count\\u0000"'


class Sessions(Protocol):
    """Database sessions (``app.db.Database`` fits)."""

    def read(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    def snapshot(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read session whose statements all see one moment."""
        ...

    def write(self) -> AbstractAsyncContextManager[AsyncSession]: ...


Snapshot = Callable[[], Awaitable[tuple[dict[str, Any], int]]]
"""Builds a snapshot's data and the seq it reflects (read in one go from the database).
The hub sets its ``viewers`` (and ``live.viewers``) to the count it last announced."""

Advance = Callable[[dict[str, Any], str, dict[str, Any]], dict[str, Any] | None]
"""Applies one broadcast event (type, data) to a snapshot's data: the new data (the
input is shared and never changed), or None when the event needs a fresh build."""


def never_advance(_data: dict[str, Any], _type: str, _event: dict[str, Any]) -> None:
    return None


@dataclass(eq=False, slots=True)
class Viewer:
    """One open socket watching one live."""

    live_id: int
    user_id: int | None
    sink: Sink
    floor: int = 0  # the viewer already has every broadcast frame with seq <= floor
    closed: bool = False


@dataclass(eq=False)
class ServedLive:
    """What this process keeps about one live it serves."""

    core: Channel
    viewers: set[Viewer] = field(default_factory=set)  # change through add/remove
    sockets_of: Counter[int | None] = field(default_factory=Counter)  # account → sockets
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    roster: Roster | None = None
    failed: BaseException | None = None  # why loading it failed, for the joins that waited
    early_ops: list[tuple[str, int]] = field(default_factory=list)  # controls during the load
    users: int = 0  # joins in progress, which keep the live alive
    gap_task: asyncio.Task[None] | None = None
    gap_attempts: int = 0
    snapshot: tuple[dict[str, Any], int] | None = None  # (data, seq), shared by joiners
    building: asyncio.Future[tuple[dict[str, Any], int]] | None = None
    encoded: tuple[tuple[int, bool], list[str]] | None = None  # (seq, recovered), template
    joiners: list[tuple[Viewer, int]] = field(default_factory=list)  # since the last tick
    total: int | None = None  # viewers over all processes, as last reported
    announced: int | None = None  # the count last sent in a ``viewers`` frame
    announcement: Frame | None = None  # that frame: a joiner that missed it gets the same
    peak: int = 0
    outbox: list[Frame] = field(default_factory=list)  # frames waiting for a pass (live.fanout)
    passing: list[Frame] = field(default_factory=list)  # the frames of the running pass
    pumping: bool = False  # a fan-out pass is running

    @property
    def live_id(self) -> int:
        return self.core.live_id

    def add(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            self.viewers.add(viewer)
            self.sockets_of[viewer.user_id] += 1

    def remove(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.discard(viewer)
            self.sockets_of[viewer.user_id] -= 1
            if not self.sockets_of[viewer.user_id]:
                del self.sockets_of[viewer.user_id]

    def is_staff(self, user_id: int) -> bool:
        return self.roster is not None and self.roster.is_staff(user_id)

    def watching(self) -> int:
        """This process's distinct watchers, in O(staff): anonymous sockets, plus accounts
        with a socket here that are not the creator or a moderator."""
        anonymous = self.sockets_of.get(None, 0)
        accounts = len(self.sockets_of) - (1 if anonymous else 0)
        if self.roster is not None:
            staff = (self.roster.creator_id, *self.roster.moderators)
            accounts -= sum(1 for uid in staff if uid in self.sockets_of)
        return anonymous + accounts

    def is_new_watcher(self, user_id: int | None) -> bool:
        """A socket of ``user_id`` joining adds one to ``watching``: anonymous, or an
        account that is not staff and has no socket on the live here yet."""
        if user_id is None:
            return True
        return not self.is_staff(user_id) and user_id not in self.sockets_of

    def advanced_snapshot(self, advance: Advance) -> tuple[dict[str, Any], int] | None:
        """The cached snapshot advanced to the live's head with ``advance`` (and kept);
        None when there is none, memory does not reach back or an event cannot be applied."""
        if self.snapshot is None:
            return None
        data, seq = self.snapshot
        head = self.core.delivered
        if seq >= head:
            return data, seq
        frames = self.core.since(seq)
        if frames is None or len(frames) > SNAPSHOT_MAX_LAG:
            return None
        for frame in frames:
            parsed = json.loads(frame.text)
            advanced = advance(data, parsed["type"], parsed["data"])
            if advanced is None:
                return None
            data = advanced
        self.snapshot = ({**data, "seq": head}, head)
        return self.snapshot

    def snapshot_frame(
        self, viewer: Viewer, data: dict[str, Any], seq: int, recovered: bool
    ) -> Frame:
        """The snapshot frame for ``viewer``. Encoded once per (seq, recovered) as a template
        whose viewer count is filled in per joiner: the count last announced (at least this
        process's sockets) plus the joiner when it is a watcher not counted yet. The next
        presence tick corrects it (``Hub._settle_joiners``)."""
        key = (seq, recovered)
        if self.encoded is None or self.encoded[0] != key:
            data = {**data, "viewers": _COUNT}
            if isinstance(data.get("live"), dict):
                data["live"] = {**data["live"], "viewers": _COUNT}
            if recovered:
                data["recovered"] = False
            template = Frame.make("snapshot", self.live_id, data).text.split(_COUNT_JSON)
            self.encoded = (key, template)
        count = max(self.announced or 0, self.watching())
        if self.is_new_watcher(viewer.user_id):
            count += 1
        self.joiners.append((viewer, count))
        return Frame(str(count).join(self.encoded[1]))

    async def replay(self, sessions: Sessions, viewer: Viewer, after: int) -> int | None:
        """Offer the frames after ``after``; the seq reached, or None if they are gone."""
        head = self.core.delivered
        if after > head:
            async with sessions.read() as session:
                head = await log.last_seq(session, self.live_id)
            if after > head:
                return None  # from the future (say, a wiped database): start over
        frames = self.core.since(after)
        if frames is None:
            async with sessions.read() as session:
                frames = await log.events_after(session, self.live_id, after, REPLAY_LIMIT)
            if frames and frames[0].seq != after + 1:
                return None  # pruned from the log
            if not frames and after < head:
                return None
        reached = after
        for frame in frames:
            if frame.seq is not None and frame.seq > reached:
                viewer.sink.offer(frame, backlog=True)
                reached = frame.seq
        reached = await self.catch_up(sessions, viewer, reached)
        resumed = Frame.make("resumed", self.live_id, {"from": after, "to": reached})
        viewer.sink.offer(resumed, backlog=True)
        return reached

    async def catch_up(self, sessions: Sessions, viewer: Viewer, start: int) -> int:
        """Offer what the live delivered after ``start``; return the seq reached.

        Loops until no await separates the last offered frame from the caller
        adding the viewer to the live, so nothing falls between the two.
        """
        while self.core.delivered > start:
            frames = self.core.since(start)
            if frames is None:
                async with sessions.read() as session:
                    frames = await log.events_after(session, self.live_id, start, REPLAY_LIMIT)
            for frame in frames:
                if frame.seq is not None and frame.seq == start + 1:
                    viewer.sink.offer(frame, backlog=True)
                    start = frame.seq
            if not frames:
                break
        return start
