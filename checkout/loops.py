"""Background loops of the fulfillment queue, and the stop that always ends them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from common.tasks import cancel_and_wait, loop_step, nap

log = logging.getLogger("livecart.fulfillment")

Step = Callable[[], Awaitable[bool]]


class Loops:
    """Background tasks that each run a ``step`` until stopped, sleeping ``idle_s`` (or
    until ``poke``) whenever a step says there was nothing to do."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def poke(self) -> None:
        """Wake every idle loop now (new work arrived)."""
        self._wake.set()

    async def _forever(self, step: Step, name: str) -> None:
        while True:
            if not await loop_step(step, name, log):  # idle, or failed: wait for work
                await nap(self._wake, self.idle_s)

    def spawn(self, step: Step, name: str) -> None:
        self._tasks.append(asyncio.create_task(self._forever(step, name), name=name))

    async def stop(self) -> None:
        """Cancel every loop. Returns within ``common.tasks.STOP_WAIT_S`` seconds even if
        a step hangs (say, on a dead Redis) or swallows the cancellation; what is still
        running then is logged by name and left behind."""
        await cancel_and_wait(self._tasks, what="fulfillment loops")
        self._tasks.clear()
