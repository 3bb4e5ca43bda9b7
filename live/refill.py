"""Frames the broker did not carry, read back from the database log.

The broker is at most once. A live's ``Channel`` notices a gap when a frame
arrives ahead of a missing one; a broker reconnect means anything may be
missing; and a publish that failed while Redis was away may leave a hole with
nothing after it to reveal it, which the periodic head check finds. In each case
the ``Refiller`` reads the log after what the live delivered and hands the
frames to the hub's fan-out. A hole the log no longer holds resets the live's
viewers (they resume with a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlmodel import col, select

from live import log
from live.frames import Frame
from live.models import Live
from live.served import REPLAY_LIMIT, ServedLive, Sessions

logger = logging.getLogger("livecart.hub")

HEAD_CHECK_S = 2.0  # how often each process compares its lives with the log's head
GAP_WAIT_S = 0.2  # how long a frame that arrived early waits for the missing one
MAX_GAP_ATTEMPTS = 5  # log reads that find the hole still open before giving up on it


class Refiller:
    def __init__(
        self,
        sessions: Sessions,
        lives: dict[int, ServedLive],
        fanout: Callable[[ServedLive, list[Frame]], None],
        reset: Callable[[ServedLive], None],
    ) -> None:
        self.sessions = sessions
        self._lives = lives  # the hub's: lives it stops serving drop out of it
        self._fanout = fanout
        self._reset = reset

    async def _fill(self, live: ServedLive, *, wait: bool) -> None:
        """Fetch missing frames from the log until the live has caught up with it."""
        try:
            if wait:
                await asyncio.sleep(GAP_WAIT_S)  # usually the missing frame is only late
            while self._lives.get(live.live_id) is live:
                async with self.sessions.read() as session:
                    frames = await log.events_after(
                        session, live.live_id, live.core.delivered, REPLAY_LIMIT
                    )
                self._fanout(live, live.core.refill(frames))
                if len(frames) < REPLAY_LIMIT:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("refilling live %s from the log failed: %r", live.live_id, exc)
            live.gap_task = None
            self.retry(live)
            return
        live.gap_task = None
        if not live.core.missing:
            live.gap_attempts = 0
            return
        live.gap_attempts += 1
        if live.gap_attempts < MAX_GAP_ATTEMPTS:
            self.retry(live)  # the missing frame committed after our read began
            return
        # A hole the log no longer holds: these viewers cannot be made whole in place.
        logger.warning("live %s lost frames beyond the log; resetting viewers", live.live_id)
        live.gap_attempts = 0
        live.core.skip_hole()
        self._reset(live)

    def retry(self, live: ServedLive) -> None:
        """Read the live's missing frames soon (a frame is held for a missing one)."""
        if live.gap_task is None and self._lives.get(live.live_id) is live:
            live.gap_task = asyncio.create_task(self._fill(live, wait=True))

    def all(self) -> None:
        """Read every live's missing frames now (the broker lost messages)."""
        for live in list(self._lives.values()):
            if live.gap_task is None and live.core.started:
                live.gap_task = asyncio.create_task(self._fill(live, wait=False))

    async def check_heads(self) -> None:
        """Safety net for frames the broker never carried (a publish that failed while
        Redis was away, with nothing after it to reveal the gap): compare each live
        with the log's head and refill what is missing."""
        lives = [lv for lv in self._lives.values() if lv.core.started]
        if not lives:
            return
        async with self.sessions.read() as session:
            rows = await session.exec(
                select(Live.id, Live.last_seq).where(col(Live.id).in_([lv.live_id for lv in lives]))
            )
            heads = dict(rows.all())
        for live in lives:
            if heads.get(live.live_id, 0) > live.core.delivered:
                self.retry(live)
