"""Ends flash deals on time, in every process, even when no request arrives.

Each process sleeps until the earliest running deal's ``ends_at`` (polling at
least every ``poll_s`` for deals pinned through other processes) and then ends
what is due. Ending is a conditional UPDATE, so however many processes wake up
for the same deal, exactly one ``deal_ended {reason: "expired"}`` is published.
After a restart the first pass ends whatever expired while the server was down.
"""

from __future__ import annotations

import asyncio
import logging

from common.tasks import cancel_and_wait, loop_step, nap
from common.times import utcnow
from live import pins
from live.hub import Hub

log = logging.getLogger("livecart.deals")


class DealClock:
    def __init__(self, hub: Hub, *, poll_s: float = 1.0) -> None:
        self.hub = hub
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="livecart-deal-clock")

    async def stop(self) -> None:
        """Cancel the clock; returns within ``common.tasks.STOP_WAIT_S`` seconds even if
        a pass hangs on the database (the task is then logged and left behind)."""
        if self._task is not None:
            await cancel_and_wait([self._task], what="deal clock")

    def poke(self) -> None:
        """A deal was just created here: recompute the next deadline now."""
        self._wake.set()

    async def run_once(self) -> float:
        """End what is due; return how long to sleep before the next look."""
        async with self.hub.sessions.read() as session:
            due = await pins.next_deal_deadline(session)
        now = utcnow()
        if due is not None and due <= now:
            async with self.hub.transaction() as batch:
                await pins.expire_due_deals(batch, now)
            return 0.0
        if due is None:
            return self.poll_s
        return min(self.poll_s, max(0.005, (due - now).total_seconds()))

    async def _run(self) -> None:
        while True:
            delay = await loop_step(self.run_once, "deal clock pass", log)
            if delay is None:  # failed: look again after the usual interval
                delay = self.poll_s
            if delay:
                await nap(self._wake, delay)
