"""The live hub: one per process. Tracks this process's viewers and fans frames out to them.

Guarantees to each viewer:

- broadcast frames arrive in ``seq`` order, each exactly once, with no gap —
  ordering is ``live.channel.Channel``'s job; the hub refills the gaps it reports
  from the database log (after a broker reconnect, or a frame ahead of a missing one);
- a slow viewer never delays others: frames are *offered* to its sink without
  waiting, and a viewer whose sink is full is evicted with close code 4408;
- fan-out coalesces and yields between slices of viewers (``live.fanout``);
- ``viewers`` counts (``live.presence``) at most once per ``presence_interval``.

Joins stay off the database at show scale: what a join needs — the live exists,
its roster (creator, moderators, bans; ``live.roster``), the log head, the
snapshot — is read once per process and live, and kept current by the live's own
stream: a cached snapshot is advanced with the events since (``Advance``), and
rebuilt from the database only when an event cannot be applied in memory — once,
for every viewer joining meanwhile (single flight). It is encoded once per
``seq``. Each broadcast frame is encoded once, whatever the number of viewers.
The hub knows nothing about products or orders: it moves frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from common import keys
from common.tasks import cancel_and_wait, close_within
from live import close_codes, log, metrics, presence, roster
from live.broker import Broker
from live.channel import Channel
from live.errors import Banned, LiveNotFound, Unavailable
from live.fanout import Fanout
from live.frames import Frame
from live.publisher import Publisher
from live.refill import HEAD_CHECK_S, Refiller
from live.roster import Roster
from live.served import Advance, ServedLive, Sessions, Snapshot, Viewer, never_advance

logger = logging.getLogger("livecart.hub")


class Hub:
    def __init__(
        self,
        broker: Broker,
        sessions: Sessions,
        *,
        presence_interval: float = 1.0,
        advance: Advance = never_advance,
    ) -> None:
        self.broker = broker
        self.advance = advance
        self.sessions = sessions
        self.presence_interval = presence_interval
        self._lives: dict[int, ServedLive] = {}
        self._by_user: dict[int, set[Viewer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reported: set[int] = set()
        self._listeners: dict[str, tuple[Callable[[str], None], Callable[[], None]]] = {}
        self.refill = Refiller(sessions, self._lives, self._fanout, self._reset)
        self.publisher = Publisher(broker, sessions, self._here)
        self.fanout = Fanout(self._spawn, self._refused)

    # ---- lifecycle

    async def start(self) -> None:
        self.broker.on_message = self._on_message
        self.broker.on_reconnect = self._on_reconnect
        await self.broker.start()
        every = presence.every
        self._spawn(every(self.presence_interval, self.tick_presence, "presence"), "presence")
        self._spawn(every(HEAD_CHECK_S, self.refill.check_heads, "log head check"), "heads")

    async def listen(
        self, channel: str, on_message: Callable[[str], None], on_reconnect: Callable[[], None]
    ) -> None:
        """Deliver ``channel``'s messages (from every process) to ``on_message`` instead of
        to viewers, and call ``on_reconnect`` whenever the broker may have lost some.
        For process-wide notices; at most once, like every broker message."""
        self._listeners[channel] = (on_message, on_reconnect)
        await self.broker.subscribe(channel)

    async def stop(self) -> None:
        """Cancel the hub's tasks and close the broker; each waits at most
        ``common.tasks.STOP_WAIT_S`` seconds (a dead Redis cannot hold it), what is
        left behind is logged."""
        await cancel_and_wait(self._tasks, what="hub")
        await close_within(self.broker.close, "broker")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"livecart-hub-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- publishing (``live.publisher``): the one way every broadcast event enters

    def transaction(self) -> AbstractAsyncContextManager[log.EventBatch]:
        """``Publisher.transaction``: this process's viewers get its frames first."""
        return self.publisher.transaction()

    def _here(self, live_id: int, frame: Frame) -> None:
        live = self._lives.get(live_id)
        if live is not None:
            self._fanout(live, live.core.accept(frame))

    async def kick(
        self, user_id: int, live_id: int | None, type_: str, code: int, message: str
    ) -> None:
        """Tell ``user_id``'s sockets on ``live_id`` (None: on every live) why (a ``type_``
        frame), then close them with ``code`` — in every process."""
        frame = Frame.make(type_, live_id, {"message": message, "close": code})
        # Here at once, whatever becomes of the broadcast (at most once) to the others.
        self._deliver_private(user_id, frame.text)
        await self.publisher.send_private(user_id, frame)

    # ---- viewers

    def roster_of(self, live_id: int) -> Roster | None:
        """A served live's roster, kept current by control messages; None if not served."""
        return live.roster if (live := self._lives.get(live_id)) is not None else None

    def viewers_of(self, live_id: int) -> int:
        """This hub's best knowledge of the live's viewers over all processes (the local
        count is a floor)."""
        live = self._lives.get(live_id)
        return 0 if live is None else max(live.total or 0, live.watching())

    async def viewer_totals(self, live_ids: list[int]) -> dict[int, int]:
        totals = await presence.lookup(self.broker.presence_totals(live_ids), {})
        return {i: max(totals.get(i, 0), self.viewers_of(i)) for i in live_ids}

    async def is_watching(self, live_id: int, user_id: int) -> bool:
        """Whether the account has a socket on the live: here, or in another process as
        of its last presence report (False while the broker is unreachable)."""
        if (live := self._lives.get(live_id)) is not None and live.sockets_of[user_id]:
            return True
        return await presence.lookup(self.broker.is_watching(live_id, user_id), False)

    def viewers(self, live_id: int) -> list[Viewer]:
        live = self._lives.get(live_id)
        return list(live.viewers) if live else []

    async def join(self, viewer: Viewer, after: int | None, snapshot: Snapshot) -> None:
        """Attach ``viewer`` to its live and bring it up to date.

        Without ``after``: a ``snapshot`` frame. With ``after``: the missed frames
        in order then ``resumed``, or — when they are no longer in the log, or
        ``after`` is ahead of the log — a snapshot with ``recovered: false``.
        Afterwards the viewer receives every broadcast frame exactly once.

        Raises ``LiveNotFound`` for a live that does not exist and ``Banned`` for a
        user banned from it; nothing was sent to the viewer then.
        """
        live = await self._acquire(viewer.live_id)
        try:
            self._check_ban(live, viewer)
            announced = live.announced
            start = await live.replay(self.sessions, viewer, after) if after is not None else None
            if start is None:
                data, start = await self._snapshot(live, snapshot)
                frame = live.snapshot_frame(viewer, data, start, after is not None)
                viewer.sink.offer(frame, backlog=True)
                start = await live.catch_up(self.sessions, viewer, start)
            self._check_ban(live, viewer)  # a ban that arrived meanwhile
            # No await since the last frame offered: nothing can fall in between.
            viewer.floor = start
            live.add(viewer)
            # A presence tick during the awaits above announced a new count to the
            # others only: this viewer would keep its older count until the next change.
            if live.announcement is not None and live.announced != announced:
                self.offer(viewer, live.announcement)  # the same frame: its ts, its count
        finally:
            live.users -= 1
            self._maybe_release(live)
        if viewer.user_id is not None:
            await self._add_user(viewer)

    def _check_ban(self, live: ServedLive, viewer: Viewer) -> None:
        if live.roster is not None and viewer.user_id in live.roster.banned:
            raise Banned("you are banned from this live")

    async def _snapshot(self, live: ServedLive, build: Snapshot) -> tuple[dict[str, Any], int]:
        """The live's shared snapshot: the cached one brought up to now with the frames
        since, else one new build for every joiner waiting (single flight)."""
        if (advanced := live.advanced_snapshot(self.advance)) is not None:
            return advanced
        if live.building is None:
            live.building = asyncio.ensure_future(self._build(live, build))
        return await asyncio.shield(live.building)

    async def _build(self, live: ServedLive, build: Snapshot) -> tuple[dict[str, Any], int]:
        try:
            live.snapshot = result = await build()
            metrics.SNAPSHOT_BUILDS.inc()
            return result
        finally:
            live.building = None

    def leave(self, viewer: Viewer) -> None:
        """Detach ``viewer`` (its socket closed). Safe to call more than once."""
        viewer.closed = True
        live = self._lives.get(viewer.live_id)
        if live is not None:
            live.remove(viewer)
            self._maybe_release(live)
        if viewer.user_id is not None:
            mine = self._by_user.get(viewer.user_id)
            if mine is not None:
                mine.discard(viewer)
                if not mine:
                    del self._by_user[viewer.user_id]
                    channel = keys.user_channel(viewer.user_id)
                    self._spawn(self.broker.unsubscribe(channel), "unsub-user")

    def evict(self, viewer: Viewer, code: int = close_codes.EVICTED, reason: str = "") -> None:
        if code == close_codes.EVICTED and not viewer.closed:
            metrics.EVICTIONS.inc()
        self.leave(viewer)
        viewer.sink.close(code, reason)

    # ---- lives this process serves

    async def _acquire(self, live_id: int) -> ServedLive:
        """The live's state, loaded on first use by one joiner while the others wait."""
        live = self._lives.get(live_id)
        if live is not None:
            live.users += 1
            await live.ready.wait()  # another join may still be loading it
            if live.failed is not None:  # that load failed: so do the joins that waited
                live.users -= 1
                if isinstance(live.failed, LiveNotFound):
                    raise LiveNotFound("live not found")
                raise Unavailable("the live could not be loaded; try again")
            return live
        live = self._lives[live_id] = ServedLive(Channel(live_id))
        live.users += 1
        try:
            await self.broker.subscribe(keys.live_channel(live_id))
            async with self.sessions.read() as session:
                loaded, head = await roster.load(session, live_id)
        except BaseException as exc:
            live.failed = exc
            live.users -= 1
            self._lives.pop(live_id, None)
            self._spawn(self.broker.unsubscribe(keys.live_channel(live_id)), "unsub-live")
            live.ready.set()
            raise
        self._set_roster(live, loaded)
        # Frames that arrived while we read the head were held by the channel.
        self._fanout(live, live.core.start(head))
        live.ready.set()
        return live

    def _set_roster(self, live: ServedLive, loaded: Roster) -> None:
        for op, user_id in live.early_ops:  # changes announced while we read: apply again
            loaded.apply(op, user_id)
        live.early_ops.clear()
        live.roster = loaded

    def _maybe_release(self, live: ServedLive) -> None:
        if live.viewers or live.users or self._lives.get(live.live_id) is not live:
            return
        self._lives.pop(live.live_id, None)
        if live.gap_task is not None:
            live.gap_task.cancel()
        self._spawn(self.broker.unsubscribe(keys.live_channel(live.live_id)), "unsub-live")

    async def _add_user(self, viewer: Viewer) -> None:
        if viewer.user_id is None:
            return
        mine = self._by_user.setdefault(viewer.user_id, set())
        first = not mine
        mine.add(viewer)
        if first:
            await self.broker.subscribe(keys.user_channel(viewer.user_id))

    # ---- delivery

    def _on_message(self, channel_name: str, text: str) -> None:
        listener = self._listeners.get(channel_name)
        if listener is not None:
            try:
                listener[0](text)
            except Exception:  # its bug must not stop the broker's reader for every live
                logger.exception("listener of %s failed", channel_name)
            return
        match keys.parse_channel(channel_name):
            case ("live", live_id):
                self._on_live_message(live_id, channel_name, text)
            case ("user", user_id):
                self._deliver_private(user_id, text)

    def _on_live_message(self, live_id: int, channel_name: str, text: str) -> None:
        live = self._lives.get(live_id)
        if live is None:
            return
        if roster.is_control(text):
            self._on_control(live, text)
            return
        try:
            seq = json.loads(text)["seq"]
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping malformed frame on %s", channel_name)
            return
        if isinstance(seq, int):
            self._fanout(live, live.core.accept(Frame(text, seq)))

    def _on_control(self, live: ServedLive, text: str) -> None:
        try:
            change = roster.parse_control(json.loads(text))
        except ValueError:
            change = None
        if change is None:
            logger.warning("dropping malformed control message for live %s", live.live_id)
            return
        op, user_id = change
        if live.roster is None:
            live.early_ops.append(change)
        else:
            live.roster.apply(op, user_id)
        if op == "ban":
            for viewer in [v for v in live.viewers if v.user_id == user_id]:
                self.offer(viewer, Frame.make("banned", live.live_id, {"message": "banned"}))
                self.evict(viewer, close_codes.BANNED, "banned")

    def _deliver_private(self, user_id: int, text: str) -> None:
        """A private frame to each of the user's sockets here, in that socket's live's
        envelope (``live_id`` is the socket's live). A frame carrying ``data.close`` is a
        kick: only for sockets on its own live, which it then closes with that code."""
        viewers = list(self._by_user.get(user_id, ()))
        if not viewers:
            return
        try:
            parsed = json.loads(text)
            type_, origin, ts = parsed["type"], parsed["live_id"], parsed["ts"]
            data = parsed["data"]
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping malformed private frame for user %s", user_id)
            return
        close = data.get("close") if isinstance(data, dict) else None
        framed: dict[int, Frame] = {}
        for viewer in viewers:
            if isinstance(close, int) and origin is not None and viewer.live_id != origin:
                continue  # a kick from another live: not for this socket
            frame = framed.get(viewer.live_id)
            if frame is None:
                frame = framed[viewer.live_id] = Frame.make(type_, viewer.live_id, data, ts=ts)
            self.offer(viewer, frame)
            if isinstance(close, int):
                self.evict(viewer, close)

    def _fanout(self, live: ServedLive, frames: list[Frame]) -> None:
        self.fanout.push(live, frames)
        if live.core.missing:
            self.refill.retry(live)

    def offer(self, viewer: Viewer, frame: Frame) -> None:
        """A frame of the viewer's own (a reply, a private one) after its broadcasts."""
        if not viewer.closed and not self.fanout.offer(
            self._lives.get(viewer.live_id), viewer, frame
        ):
            self._refused(viewer)

    def _refused(self, viewer: Viewer) -> None:
        logger.info("evicting a viewer of live %s that stopped reading", viewer.live_id)
        self.evict(viewer)

    def _reset(self, live: ServedLive) -> None:
        """The live lost frames beyond the log: its viewers resume with a fresh snapshot."""
        live.snapshot = None
        live.outbox.clear()
        for viewer in list(live.viewers):
            self.evict(viewer)

    def _on_reconnect(self) -> None:
        """The broker lost messages: refill every live's frames and reload its roster."""
        self.refill.all()
        self._spawn(self._reload_rosters(), "rosters")
        for _on_message, on_reconnect in self._listeners.values():
            on_reconnect()

    async def _reload_rosters(self) -> None:
        for live in [lv for lv in self._lives.values() if lv.roster is not None]:
            async with self.sessions.read() as session:
                live.roster, _head = await roster.load(session, live.live_id)

    # ---- presence

    async def tick_presence(self) -> None:
        """Report local watchers, learn totals, send ``viewers`` where the total changed."""
        await presence.tick(
            self._lives, self._reported, self.broker.report_presence, self.offer, self.sessions
        )
