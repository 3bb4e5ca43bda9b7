"""Broadcast frames to one live's viewers in this process: coalesced, in slices, never waiting.

Writing a frame to a socket is one ``send`` system call, and on loopback the
receiver's TCP work runs inside it too: about 15 µs, so one frame to 5,000
viewers holds the process for 75 ms, during which it answers nothing else
(``docs/benchmarks.md``, Auctions). Two things keep a busy live from turning
that into a queue:

- **Coalescing.** Frames handed in while a pass is writing join it for the
  viewers it has not reached yet, and go to the viewers it has passed in the next
  pass; either way each viewer gets everything it is owed in one write. However
  fast events come, a viewer costs one write per pass, and passes follow each
  other as fast as the process can write them.
- **Slices.** A pass yields to the event loop every ``slice_size`` viewers, so
  bids, joins and pings are served between slices, not after the whole live.

Guarantees: each viewer is offered the frames it does not have yet (``seq``
above its ``floor``), in ``seq`` order, each once. Frames are pushed in order and
without gaps (``live.channel``). A viewer that joins while frames wait has caught
up to the channel's head first (``ServedLive.catch_up``), so its floor already
covers them. No backpressure: ``push`` never waits; a viewer whose sink refuses
is handed to ``refuse`` (the hub evicts it).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from live import metrics
from live.frames import Frame
from live.served import ServedLive, Viewer

logger = logging.getLogger("livecart.hub")

SLICE_SIZE = 128  # viewers written between two yields to the event loop (~2 ms)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The frames one viewer is owed, in order, and their WebSocket bytes joined."""

    frames: tuple[Frame, ...]
    wire: bytes

    @property
    def last(self) -> int:
        return self.frames[-1].seq or 0


class _Cuts:
    """The bundles of one pass, one per distinct viewer floor (most viewers share one)."""

    def __init__(self, frames: list[Frame]) -> None:
        self._frames = frames
        self._seqs = [frame.seq or 0 for frame in frames]
        self._made: dict[int, Bundle | None] = {}

    def after(self, floor: int) -> Bundle | None:
        start = bisect.bisect_right(self._seqs, floor)
        if start not in self._made:
            owed = tuple(self._frames[start:])
            self._made[start] = Bundle(owed, b"".join(f.wire for f in owed)) if owed else None
        return self._made[start]


Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class Fanout:
    def __init__(
        self, spawn: Spawn, refuse: Callable[[Viewer], None], *, slice_size: int = SLICE_SIZE
    ) -> None:
        self._spawn = spawn
        self._refuse = refuse
        self.slice_size = slice_size
        self._readers: list[Callable[[list[Frame]], None]] = []

    def read_along(self, reader: Callable[[list[Frame]], None]) -> None:
        """Also hand every broadcast frame of the lives served here, in seq order, to
        ``reader`` (in-process state kept from the stream, e.g. ``BidDesk.read``)."""
        self._readers.append(reader)

    def push(self, live: ServedLive, frames: list[Frame]) -> None:
        """Queue ``frames`` for the live's viewers; a pass starts if none is running."""
        if not frames:
            return
        for reader in self._readers:
            reader(frames)
        live.outbox.extend(frames)
        if not live.pumping:
            live.pumping = True
            self._spawn(self._pump(live), f"fanout-{live.live_id}")

    def offer(self, live: ServedLive | None, viewer: Viewer, frame: Frame) -> bool:
        """Offer ``viewer`` a frame of its own (a reply, a private frame) after the
        broadcast frames still waiting in passes for it: a socket sees its action's
        broadcast before the answer to its next frame. False: its sink refused."""
        waiting = () if live is None or not live.pumping else (*live.passing, *live.outbox)
        owed = [f for f in waiting if (f.seq or 0) > viewer.floor]
        if owed:
            viewer.floor = owed[-1].seq or 0
            if not viewer.sink.offer_all(owed, b"".join(f.wire for f in owed)):
                return False
        return viewer.sink.offer(frame)

    async def _pump(self, live: ServedLive) -> None:
        try:
            while live.outbox:
                live.passing, live.outbox = live.outbox, []
                try:
                    joined = await self._pass(live)
                except Exception:  # a sink's bug: viewers behind it miss this pass's frames
                    logger.exception("fan-out to live %s failed", live.live_id)
                    joined = []
                # Frames that joined the pass midway: the viewers before that point need them.
                live.outbox, live.passing = joined + live.outbox, []
        finally:
            live.pumping = False
            live.passing = []

    async def _pass(self, live: ServedLive) -> list[Frame]:
        """Write ``live.passing`` to every viewer, slice by slice. Frames pushed meanwhile
        join it for the viewers still ahead; returned, for the viewers already behind."""
        cuts = _Cuts(live.passing)
        joined: list[Frame] = []
        viewers = list(live.viewers)
        sent = 0
        for start in range(0, len(viewers), self.slice_size):
            if start:
                await asyncio.sleep(0)  # what else is ready runs before the next slice
                if live.outbox:
                    joined += live.outbox
                    live.passing, live.outbox = live.passing + live.outbox, []
                    cuts = _Cuts(live.passing)
            for viewer in viewers[start : start + self.slice_size]:
                bundle = None if viewer.closed else cuts.after(viewer.floor)
                if bundle is None:
                    continue
                viewer.floor = bundle.last
                sent += len(bundle.frames)
                if not viewer.sink.offer_all(bundle.frames, bundle.wire):
                    self._refuse(viewer)
        metrics.FRAMES_SENT.inc(sent)
        return joined
