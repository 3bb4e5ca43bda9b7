"""The sans-I/O core of a live's fan-out: which broadcast frames go out, in what order.

A ``Channel`` takes every broadcast frame a process sees for one live — from
the broker, from the database log, from its own commits — in any order, with
duplicates, and answers the frames to fan out. It does no I/O, owns no task and
needs no event loop, so its rules are unit-tested on their own.

Guarantees, for frames handed to ``start``/``accept``/``refill``:

- the frames returned are in ``seq`` order, consecutive, and each is returned
  exactly once over the channel's life;
- a frame that arrives ahead of a missing one is held (``missing`` turns true)
  until the missing one arrives or ``skip_hole`` gives up on it;
- ``since(after)`` answers from memory exactly the frames after ``after`` up to
  what was returned, or ``None`` when memory does not reach back that far.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from live.frames import Frame

RING_SIZE = 1024  # recent frames kept per live in memory, for joins and resumes


class Channel:
    __slots__ = ("delivered", "live_id", "pending", "ring")

    def __init__(self, live_id: int, ring_size: int = RING_SIZE) -> None:
        self.live_id = live_id
        self.delivered = -1  # seq of the last frame returned for fan-out; -1 before start
        self.ring: deque[Frame] = deque(maxlen=ring_size)
        self.pending: dict[int, Frame] = {}  # frames ahead of a missing one, by seq

    @property
    def started(self) -> bool:
        return self.delivered >= 0

    @property
    def missing(self) -> bool:
        """A frame is held for a missing earlier one: the log should be read."""
        return bool(self.pending)

    def start(self, head: int) -> list[Frame]:
        """The log's head was read: frames up to ``head`` are the snapshot's business.

        Frames that arrived while the head was read were held; those after it go out.
        """
        self.delivered = head
        return self._drain()

    def accept(self, frame: Frame) -> list[Frame]:
        """A broadcast frame arrived; the frames that can go out now, in order."""
        seq = frame.seq
        if seq is None:
            return []
        if not self.started:
            self.pending[seq] = frame
            return []
        if seq <= self.delivered:
            return []  # a duplicate: our own echo, or refilled already
        self.pending[seq] = frame
        return self._drain()

    def refill(self, frames: list[Frame]) -> list[Frame]:
        """Frames read from the log after ``delivered``; the frames that go out now."""
        for frame in frames:
            if frame.seq is not None and frame.seq > self.delivered:
                self.pending.setdefault(frame.seq, frame)
        return self._drain()

    def skip_hole(self) -> None:
        """Give up on a hole the log no longer holds: jump to the newest held frame.

        Viewers of the channel cannot be made whole in place after this; the caller
        resets them (they resume with a fresh snapshot).
        """
        if self.pending:
            self.delivered = max(self.pending)
            self.pending.clear()
            self.ring.clear()  # the ring holds consecutive seqs only

    def since(self, after: int) -> list[Frame] | None:
        """Frames with seq > ``after`` up to ``delivered``, from memory, or None when
        memory does not reach back to ``after + 1``."""
        if not self.started:
            return None
        if after >= self.delivered:
            return []
        if not self.ring or (self.ring[0].seq or 0) > after + 1:
            return None
        # The ring holds consecutive seqs ending at ``delivered``: take its tail.
        return list(islice(reversed(self.ring), self.delivered - after))[::-1]

    def _drain(self) -> list[Frame]:
        for seq in [s for s in self.pending if s <= self.delivered]:
            del self.pending[seq]
        out: list[Frame] = []
        while (frame := self.pending.pop(self.delivered + 1, None)) is not None:
            self.delivered += 1
            self.ring.append(frame)
            out.append(frame)
        return out
