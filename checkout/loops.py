"""Background loops of the fulfillment queue and webhooks, and the stop that always ends
them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from common.tasks import cancel_and_wait, loop_step, nap

log = logging.getLogger("livecart.fulfillment")

Step = Callable[[], Awaitable[bool]]

FINISH_S = 0.5  # how long a stop lets each loop finish the step it is in (ms, normally)


class Loops:
    """Background tasks that each run a ``step`` until stopped, sleeping ``idle_s`` (or
    until ``poke``) whenever a step says there was nothing to do."""

    def __init__(self, idle_s: float, *, finish_s: float = FINISH_S) -> None:
        self.idle_s = idle_s
        self.finish_s = finish_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._finishing: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._finish_by = 0.0  # when the steps' time to finish is up (set by stopping)

    def poke(self) -> None:
        """Wake every idle loop now (new work arrived)."""
        self._wake.set()

    async def _forever(self, step: Step, name: str) -> None:
        while not self._stopping:
            if not await loop_step(step, name, log) and not self._stopping:
                await nap(self._wake, self.idle_s)  # idle, or failed: wait for work

    def spawn(self, step: Step, name: str, *, finish: bool = True) -> None:
        """Run ``step`` in a loop; ``finish=False`` for a step that mostly waits (say, a
        long sleep) and is cancelled at once by ``stop``."""
        task = asyncio.create_task(self._forever(step, name), name=name)
        self._tasks.append(task)
        if finish:
            self._finishing.add(task)

    def stopping(self) -> None:
        """End each loop at the end of its current step, from now on; ``stop`` waits
        for them until ``finish_s`` after the first call. ``stop`` calls it too; a process
        stopping several ``Loops`` tells them all first, so their steps get the same time
        to finish rather than one ``Loops`` after the other."""
        if not self._stopping:
            self._stopping = True
            self._finish_by = asyncio.get_running_loop().time() + self.finish_s
        self._wake.set()

    async def stop(self) -> None:
        """End every loop: each first finishes the step it is in and ends there (at most
        ``finish_s``): a step cancelled half-way through a transaction leaves its rollback
        to be interrupted too, and the connection lost. What is still running then is
        cancelled; that returns within ``common.tasks.STOP_WAIT_S`` seconds even if a
        step hangs (say, on a dead Redis) or swallows the cancellation, and names what it
        left behind."""
        self.stopping()
        busy = [task for task in self._finishing if not task.done()]
        left = self._finish_by - asyncio.get_running_loop().time()
        if busy and left > 0:
            await asyncio.wait(busy, timeout=left)
        await cancel_and_wait(self._tasks, what="fulfillment loops")
        self._tasks.clear()
        self._finishing.clear()
