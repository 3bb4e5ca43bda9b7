"""The live hub: one per process. Fans committed frames out to this process's viewers.

Guarantees to each viewer:

- broadcast frames arrive in ``seq`` order, each exactly once, with no gap —
  the hub reorders, drops duplicates and refills gaps from the database log
  (after a broker reconnect, or when a frame arrives ahead of a missing one);
- a slow viewer never delays others: frames are *offered* to its sink without
  waiting, and a viewer whose sink is full is evicted with close code 4408;
- ``viewers`` counts (over all processes) at most once per ``presence_interval``.

Each frame is encoded once, whatever the number of viewers. The hub knows
nothing about products or orders: it moves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from live import keys, log
from live.broker import Broker
from live.frames import Frame
from live.models import Live
from live.sinks import CLOSE_EVICTED, Sink

logger = logging.getLogger("livecart.hub")

HEAD_CHECK_S = 2.0  # how often each process compares its channels with the log's head
RING_SIZE = 1024  # recent frames kept per live in memory, for joins and resumes
GAP_WAIT_S = 0.2  # how long a frame that arrived early waits for the missing one
REPLAY_LIMIT = 2_000  # frames fetched from the log per query
MAX_GAP_ATTEMPTS = 5  # log reads that find the hole still open before giving up on it


class Sessions(Protocol):
    """Database sessions (``app.db.Database`` fits)."""

    def read(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    def snapshot(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read session whose statements all see one moment."""
        ...

    def write(self) -> AbstractAsyncContextManager[AsyncSession]: ...


Snapshot = Callable[[], Awaitable[tuple[dict[str, Any], int]]]
"""Builds a snapshot's data and the seq it reflects (read in one go from the database)."""


@dataclass(eq=False)
class Viewer:
    """One open socket watching one live."""

    live_id: int
    user_id: int | None
    sink: Sink
    floor: int = 0  # the viewer already has every broadcast frame with seq <= floor
    closed: bool = False


@dataclass(eq=False)
class _Channel:
    live_id: int
    viewers: set[Viewer] = field(default_factory=set)
    delivered: int = -1  # seq of the last frame fanned out; -1 while initialising
    ring: deque[Frame] = field(default_factory=lambda: deque(maxlen=RING_SIZE))
    pending: dict[int, Frame] = field(default_factory=dict)
    gap_task: asyncio.Task[None] | None = None
    gap_attempts: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    users: int = 0  # joins in progress, which keep the channel alive
    total: int | None = None  # viewers over all processes, as last reported
    announced: int | None = None  # the count last sent in a ``viewers`` frame
    peak: int = 0


class Hub:
    def __init__(
        self,
        broker: Broker,
        sessions: Sessions,
        *,
        presence_interval: float = 1.0,
    ) -> None:
        self.broker = broker
        self.sessions = sessions
        self.presence_interval = presence_interval
        self._channels: dict[int, _Channel] = {}
        self._by_user: dict[int, set[Viewer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._presence_task: asyncio.Task[None] | None = None
        self._reported: set[int] = set()

    # ---- lifecycle

    async def start(self) -> None:
        self.broker.on_message = self._on_message
        self.broker.on_reconnect = self._on_reconnect
        await self.broker.start()
        self._presence_task = asyncio.create_task(self._presence_loop(), name="livecart-presence")
        self._spawn(self._head_loop(), "livecart-log-head")

    async def stop(self) -> None:
        tasks = [t for t in [self._presence_task, *self._tasks] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.broker.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- publishing: the one way every broadcast event enters the system

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[log.EventBatch]:
        """A write transaction whose appended events are published once it commits.

        State changes made through ``batch.session`` and the events appended to
        the batch commit together; nothing is published if the block raises.
        """
        async with self.sessions.write() as session:
            batch = log.EventBatch(session)
            yield batch
        for live_id, frame in batch.frames:
            await self._announce(live_id, frame)

    async def publish(self, live_id: int, type_: str, data: dict[str, Any]) -> Frame:
        """Append one broadcast event to the live's log and publish it."""
        async with self.transaction() as batch:
            frame = await batch.append(live_id, type_, data)
        return frame

    async def _announce(self, live_id: int, frame: Frame) -> None:
        channel = self._channels.get(live_id)
        if channel is not None and channel.delivered >= 0:
            self._accept(channel, frame)  # local viewers first: no round trip through Redis
        try:
            await self.broker.publish(keys.live_channel(live_id), frame.text)
        except Exception as exc:  # committed already: other processes refill from the log
            logger.warning("publish of live %s seq %s failed: %r", live_id, frame.seq, exc)

    async def kick(self, user_id: int, live_id: int, type_: str, code: int, message: str) -> None:
        """Tell ``user_id``'s sockets on ``live_id`` why (a ``type_`` frame), then close them
        with ``code`` — in every process."""
        frame = Frame.make(type_, live_id, {"message": message, "close": code})
        await self.send_private(user_id, frame)

    async def send_private_many(self, frames: list[tuple[int, Frame]]) -> None:
        """``send_private`` for many (user id, frame) pairs in one round trip."""
        try:
            await self.broker.publish_many([(keys.user_channel(u), f.text) for u, f in frames])
        except Exception as exc:
            logger.warning("%d private frames lost: %r", len(frames), exc)

    async def send_private(self, user_id: int, frame: Frame) -> None:
        """Send a private frame (seq null) to every socket ``user_id`` has open, anywhere.

        At most once: a socket that is not connected at that moment misses it.
        """
        try:
            await self.broker.publish(keys.user_channel(user_id), frame.text)
        except Exception as exc:
            logger.warning("private frame to user %s lost: %r", user_id, exc)

    # ---- viewers

    def viewers_of(self, live_id: int) -> int:
        """This hub's best knowledge of the live's viewers over all processes."""
        channel = self._channels.get(live_id)
        if channel is None:
            return 0
        return max(channel.total or 0, len(channel.viewers))

    async def viewer_totals(self, live_ids: list[int]) -> dict[int, int]:
        try:
            totals = await self.broker.presence_totals(live_ids)
        except Exception as exc:
            logger.warning("presence lookup failed: %r", exc)
            totals = {}
        return {i: max(totals.get(i, 0), self.viewers_of(i)) for i in live_ids}

    async def join(self, viewer: Viewer, after: int | None, snapshot: Snapshot) -> None:
        """Attach ``viewer`` to its live and bring it up to date.

        Without ``after``: a ``snapshot`` frame. With ``after``: the missed frames
        in order then ``resumed``, or — when they are no longer in the log, or
        ``after`` is ahead of the log — a snapshot with ``recovered: false``.
        Afterwards the viewer receives every broadcast frame exactly once.
        """
        channel = await self._acquire(viewer.live_id)
        announced = channel.announced
        try:
            start = await self._replay(channel, viewer, after) if after is not None else None
            if start is None:
                data, start = await snapshot()
                if after is not None:
                    data = {**data, "recovered": False}
                viewer.sink.offer(Frame.make("snapshot", viewer.live_id, data), backlog=True)
                start = await self._catch_up(channel, viewer, start)
            # No await since the last frame offered: nothing can fall in between.
            viewer.floor = start
            channel.viewers.add(viewer)
            # A presence tick during the awaits above announced a new count to the
            # others only: this viewer would keep its older count until the next change.
            if channel.announced is not None and channel.announced != announced:
                self._offer(viewer, Frame.make("viewers", viewer.live_id,
                                               {"count": channel.announced}))  # fmt: skip
        finally:
            channel.users -= 1
        if viewer.user_id is not None:
            await self._add_user(viewer)

    async def _replay(self, channel: _Channel, viewer: Viewer, after: int) -> int | None:
        """Offer the frames after ``after``; the seq reached, or None if they are gone."""
        head = channel.delivered
        if after > head:
            async with self.sessions.read() as session:
                head = await log.last_seq(session, channel.live_id)
            if after > head:
                return None  # from the future (say, a wiped database): start over
        frames = self._from_ring(channel, after)
        if frames is None:
            async with self.sessions.read() as session:
                frames = await log.events_after(session, channel.live_id, after, REPLAY_LIMIT)
            if frames and frames[0].seq != after + 1:
                return None  # pruned from the log
            if not frames and after < head:
                return None
        reached = after
        for frame in frames:
            if frame.seq is not None and frame.seq > reached:
                viewer.sink.offer(frame, backlog=True)
                reached = frame.seq
        reached = await self._catch_up(channel, viewer, reached)
        resumed = Frame.make("resumed", channel.live_id, {"from": after, "to": reached})
        viewer.sink.offer(resumed, backlog=True)
        return reached

    def _from_ring(self, channel: _Channel, after: int) -> list[Frame] | None:
        """Frames with seq > ``after`` from memory, or None when memory does not reach back."""
        if channel.delivered < 0:
            return None
        if after >= channel.delivered:
            return []
        if not channel.ring or (channel.ring[0].seq or 0) > after + 1:
            return None
        return [f for f in channel.ring if (f.seq or 0) > after]

    async def _catch_up(self, channel: _Channel, viewer: Viewer, start: int) -> int:
        """Offer what the channel delivered after ``start``; return the seq reached.

        Loops until no await separates the last offered frame from the caller
        adding the viewer to the channel, so nothing falls between the two.
        """
        while channel.delivered > start:
            frames = self._from_ring(channel, start)
            if frames is None:
                async with self.sessions.read() as session:
                    frames = await log.events_after(session, channel.live_id, start, REPLAY_LIMIT)
            for frame in frames:
                if frame.seq is not None and frame.seq == start + 1:
                    viewer.sink.offer(frame, backlog=True)
                    start = frame.seq
            if not frames:
                break
        return start

    def leave(self, viewer: Viewer) -> None:
        """Detach ``viewer`` (its socket closed). Safe to call more than once."""
        viewer.closed = True
        channel = self._channels.get(viewer.live_id)
        if channel is not None:
            channel.viewers.discard(viewer)
            self._maybe_release(channel)
        if viewer.user_id is not None:
            mine = self._by_user.get(viewer.user_id)
            if mine is not None:
                mine.discard(viewer)
                if not mine:
                    del self._by_user[viewer.user_id]
                    self._spawn(
                        self.broker.unsubscribe(keys.user_channel(viewer.user_id)), "unsub-user"
                    )

    def evict(self, viewer: Viewer, code: int = CLOSE_EVICTED, reason: str = "") -> None:
        self.leave(viewer)
        viewer.sink.close(code, reason)

    def viewers(self, live_id: int) -> list[Viewer]:
        channel = self._channels.get(live_id)
        return list(channel.viewers) if channel else []

    def send_local(self, live_id: int, frame: Frame, *, user_id: int | None = None) -> None:
        """Offer an ephemeral frame to this process's viewers of a live (or one user's)."""
        for viewer in self.viewers(live_id):
            if user_id is None or viewer.user_id == user_id:
                self._offer(viewer, frame)

    # ---- channels

    async def _acquire(self, live_id: int) -> _Channel:
        channel = self._channels.get(live_id)
        if channel is not None:
            channel.users += 1
            await channel.ready.wait()  # another join may still be initialising it
            return channel
        channel = _Channel(live_id)
        self._channels[live_id] = channel
        channel.users += 1
        try:
            await self.broker.subscribe(keys.live_channel(live_id))
            async with self.sessions.read() as session:
                head = await log.last_seq(session, live_id)
        except BaseException:
            channel.users -= 1
            self._channels.pop(live_id, None)
            channel.ready.set()
            raise
        # Frames that arrived while we read the head were parked in ``pending``.
        channel.delivered = head
        self._drain_pending(channel)
        channel.ready.set()
        return channel

    def _maybe_release(self, channel: _Channel) -> None:
        if channel.viewers or channel.users:
            return
        self._channels.pop(channel.live_id, None)
        if channel.gap_task is not None:
            channel.gap_task.cancel()
        self._spawn(self.broker.unsubscribe(keys.live_channel(channel.live_id)), "unsub-live")

    async def _add_user(self, viewer: Viewer) -> None:
        assert viewer.user_id is not None
        mine = self._by_user.setdefault(viewer.user_id, set())
        first = not mine
        mine.add(viewer)
        if first:
            await self.broker.subscribe(keys.user_channel(viewer.user_id))

    # ---- delivery

    def _on_message(self, channel_name: str, text: str) -> None:
        kind, _, ident = channel_name.rpartition(":")
        if not ident.isdigit():
            return
        if kind.endswith(":live"):
            channel = self._channels.get(int(ident))
            if channel is None:
                return
            try:
                seq = json.loads(text)["seq"]
            except (ValueError, KeyError, TypeError):
                logger.warning("dropping malformed frame on %s", channel_name)
                return
            if isinstance(seq, int):
                self._accept(channel, Frame(text, seq))
        elif kind.endswith(":user"):
            self._deliver_private(int(ident), text)

    def _deliver_private(self, user_id: int, text: str) -> None:
        """A private frame to each of the user's sockets here, in that socket's live's
        envelope (``live_id`` is the socket's live). A frame carrying ``data.close`` is a
        kick: only for sockets on its own live, which it then closes with that code."""
        viewers = list(self._by_user.get(user_id, ()))
        if not viewers:
            return
        try:
            parsed = json.loads(text)
            type_, origin, ts, data = (
                parsed["type"],
                parsed["live_id"],
                parsed["ts"],
                parsed["data"],
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping malformed private frame for user %s", user_id)
            return
        close = data.get("close") if isinstance(data, dict) else None
        framed: dict[int, Frame] = {}
        for viewer in viewers:
            if isinstance(close, int) and viewer.live_id != origin:
                continue  # a kick from another live: not for this socket
            frame = framed.get(viewer.live_id)
            if frame is None:
                frame = framed[viewer.live_id] = Frame.make(type_, viewer.live_id, data, ts=ts)
            self._offer(viewer, frame)
            if isinstance(close, int):
                self.evict(viewer, close)

    def _accept(self, channel: _Channel, frame: Frame) -> None:
        seq = frame.seq
        assert seq is not None
        if channel.delivered < 0:
            channel.pending[seq] = frame
            return
        if seq <= channel.delivered:
            return  # a duplicate (our own echo, or already refilled)
        channel.pending[seq] = frame
        self._drain_pending(channel)
        if channel.pending:
            self._retry_gap(channel)

    def _drain_pending(self, channel: _Channel) -> None:
        for seq in [s for s in channel.pending if s <= channel.delivered]:
            del channel.pending[seq]
        while (frame := channel.pending.pop(channel.delivered + 1, None)) is not None:
            self._fanout(channel, frame)

    def _fanout(self, channel: _Channel, frame: Frame) -> None:
        seq = frame.seq
        assert seq is not None
        channel.delivered = seq
        channel.ring.append(frame)
        for viewer in list(channel.viewers):
            if seq > viewer.floor:
                viewer.floor = seq
                self._offer(viewer, frame)

    def _offer(self, viewer: Viewer, frame: Frame) -> None:
        if viewer.closed:
            return
        if not viewer.sink.offer(frame):
            logger.info("evicting a viewer of live %s that stopped reading", viewer.live_id)
            self.evict(viewer)

    async def _fill_gap(self, channel: _Channel, *, wait: bool) -> None:
        """Fetch missing frames from the log until the channel has caught up with it."""
        try:
            if wait:
                await asyncio.sleep(GAP_WAIT_S)  # usually the missing frame is only late
            while self._channels.get(channel.live_id) is channel:
                async with self.sessions.read() as session:
                    frames = await log.events_after(
                        session, channel.live_id, channel.delivered, REPLAY_LIMIT
                    )
                for frame in frames:
                    if frame.seq is not None and frame.seq > channel.delivered:
                        channel.pending.setdefault(frame.seq, frame)
                self._drain_pending(channel)
                if len(frames) < REPLAY_LIMIT:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("refilling live %s from the log failed: %r", channel.live_id, exc)
            channel.gap_task = None
            self._retry_gap(channel)
            return
        channel.gap_task = None
        if not channel.pending:
            channel.gap_attempts = 0
            return
        channel.gap_attempts += 1
        if channel.gap_attempts < MAX_GAP_ATTEMPTS:
            self._retry_gap(channel)  # the missing frame committed after our read began
            return
        # A hole the log no longer holds: these viewers cannot be made whole in
        # place. Evict them; they resume with ``after`` and get a fresh snapshot.
        logger.warning("live %s lost frames beyond the log; resetting viewers", channel.live_id)
        channel.gap_attempts = 0
        channel.delivered = max(channel.pending)
        channel.pending.clear()
        for viewer in list(channel.viewers):
            self.evict(viewer)

    def _retry_gap(self, channel: _Channel) -> None:
        if channel.gap_task is None and self._channels.get(channel.live_id) is channel:
            channel.gap_task = asyncio.create_task(self._fill_gap(channel, wait=True))

    def _on_reconnect(self) -> None:
        for channel in list(self._channels.values()):
            if channel.gap_task is None and channel.delivered >= 0:
                channel.gap_task = asyncio.create_task(self._fill_gap(channel, wait=False))

    async def _head_loop(self) -> None:
        """Safety net for frames the broker never carried (a publish that failed while
        Redis was away, with nothing after it to reveal the gap): every few seconds,
        compare each channel with the log's head and refill what is missing."""
        while True:
            await asyncio.sleep(HEAD_CHECK_S)
            try:
                await self.check_heads()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("log head check failed: %r", exc)

    async def check_heads(self) -> None:
        channels = [ch for ch in self._channels.values() if ch.delivered >= 0]
        if not channels:
            return
        async with self.sessions.read() as session:
            rows = await session.exec(
                select(Live.id, Live.last_seq).where(
                    col(Live.id).in_([c.live_id for c in channels])
                )
            )
            heads = dict(rows.all())
        for channel in channels:
            if heads.get(channel.live_id, 0) > channel.delivered:
                self._retry_gap(channel)

    # ---- presence

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(self.presence_interval)
            try:
                await self.tick_presence()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("presence update failed: %r", exc)

    async def tick_presence(self) -> None:
        """Report local counts, learn totals, send ``viewers`` where the total changed."""
        local = {live_id: len(ch.viewers) for live_id, ch in self._channels.items()}
        for gone in self._reported - local.keys():
            local[gone] = 0
        if not local:
            return
        totals = await self.broker.report_presence(local)
        self._reported = {live_id for live_id, count in local.items() if count}
        peaks: dict[int, int] = {}
        for live_id, total in totals.items():
            channel = self._channels.get(live_id)
            if channel is None:
                continue
            channel.total = total
            if total != channel.announced:
                channel.announced = total
                frame = Frame.make("viewers", live_id, {"count": total})
                for viewer in list(channel.viewers):
                    self._offer(viewer, frame)
            if total > channel.peak:
                channel.peak = total
                peaks[live_id] = total
        if peaks:
            async with self.sessions.write() as session:
                for live_id, peak in peaks.items():
                    await session.exec(
                        update(Live)
                        .where(col(Live.id) == live_id, col(Live.peak_viewers) < peak)
                        .values(peak_viewers=peak)
                    )
