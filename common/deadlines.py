"""A background loop that acts when something falls due (deals, auctions, giveaways).

Each pass (``run_once``) does what is due and says how long to sleep: until the next
deadline it knows of, but at most ``poll_s`` (so deadlines set through other processes
are seen), or not at all when more is due. ``poke`` cuts a sleep short: something was
just started here. A pass that fails is logged and retried after ``poll_s``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from common.tasks import cancel_and_wait, loop_step, nap


def sleep_until(due: datetime | None, now: datetime, poll_s: float) -> float:
    """Seconds to sleep before the next pass, for the earliest deadline ``due``."""
    if due is None:
        return poll_s
    if due <= now:
        return 0.0
    return min(poll_s, max(0.005, (due - now).total_seconds()))


class DeadlineLoop:
    """Subclasses implement ``run_once``; ``name`` names the task and log lines."""

    name = "deadline loop"

    def __init__(self, log: logging.Logger, *, poll_s: float = 1.0) -> None:
        self.log = log
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> float:
        """Do what is due; return how long to sleep before the next look."""
        raise NotImplementedError

    async def start(self) -> None:
        task_name = "livecart-" + self.name.replace(" ", "-")
        self._task = asyncio.create_task(self._run(), name=task_name)

    async def stop(self) -> None:
        """Cancel the loop; returns within ``common.tasks.STOP_WAIT_S`` seconds even if a
        pass hangs on the database (the task is then logged and left behind)."""
        if self._task is not None:
            await cancel_and_wait([self._task], what=self.name)

    def poke(self) -> None:
        """Something with a deadline was just started here: look again now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            delay = await loop_step(self.run_once, f"{self.name} pass", self.log)
            if delay is None:  # failed: look again after the usual interval
                delay = self.poll_s
            if delay:
                await nap(self._wake, delay)
