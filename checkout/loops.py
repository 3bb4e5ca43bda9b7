"""Background loops of the fulfillment queue, and the stop that always ends them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from common.tasks import cancel_and_wait

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
        task = asyncio.current_task()
        while True:
            try:
                busy = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed: %r", name, exc)
                busy = False
            if task is not None and task.cancelling():
                # Stopped while a step ran, and something inside swallowed the
                # cancellation (seen with a database call): stop now, not never.
                raise asyncio.CancelledError
            if not busy:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns normally
                # when cancelled just as the event is set, and the loop would go on.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_s):
                        await self._wake.wait()

    def spawn(self, step: Step, name: str) -> None:
        self._tasks.append(asyncio.create_task(self._forever(step, name), name=name))

    async def stop(self) -> None:
        """Cancel every loop. Returns within ``common.tasks.STOP_WAIT_S`` seconds even if
        a step hangs (say, on a dead Redis) or swallows the cancellation; what is still
        running then is logged by name and left behind."""
        await cancel_and_wait(self._tasks, what="fulfillment loops")
        self._tasks.clear()
