"""Background loops stop when told, even if a step swallows the cancellation.

Seen as ``livecart serve`` hanging on SIGTERM right after start (Redis mode): the
outbox relay's step ran a database call that ate the ``CancelledError``, so the loop
went back to waiting and ``stop()`` waited on it for ever. On Python 3.11,
``asyncio.wait_for`` also returns normally when cancelled just as its event is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from checkout.loops import Loops
from live.presence import every


class Swallower:
    """A step that eats the first cancellation it gets, as some library calls do."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.swallowed = 0

    async def step(self) -> bool:
        self.running.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1
        return False


async def ends_within(work: Awaitable[None], *tasks: asyncio.Task[None]) -> bool:
    """Whether ``work`` (stopping ``tasks``) ends within 2 s, the tasks with it. Waited on
    with ``asyncio.wait``: a timeout that cancelled ``work`` would cancel the tasks
    again and hide the bug. Cleans up either way."""
    stopping = asyncio.ensure_future(work)
    await asyncio.wait([stopping], timeout=2)
    ended = stopping.done() and all(task.done() for task in tasks)
    for task in (*tasks, stopping):
        task.cancel()
    await asyncio.gather(*tasks, stopping, return_exceptions=True)
    return ended


async def test_a_loop_whose_step_swallows_the_cancellation_still_stops() -> None:
    loop, swallower = Loops(idle_s=60), Swallower()
    loop.spawn(swallower.step, "swallower")
    tasks = list(loop._tasks)
    await swallower.running.wait()
    assert await ends_within(loop.stop(), *tasks), "the loop is still running"
    assert swallower.swallowed == 1


async def test_a_loop_poked_as_it_is_stopped_stops() -> None:
    idle = asyncio.Event()

    async def step() -> bool:
        idle.set()
        return False

    for _ in range(20):
        loop = Loops(idle_s=60)
        idle.clear()
        loop.spawn(step, "idle")
        tasks = list(loop._tasks)
        await idle.wait()
        await asyncio.sleep(0)  # now waiting to be woken
        loop.poke()  # woken and stopped in the same moment
        assert await ends_within(loop.stop(), *tasks), "the loop is still running"


async def test_every_stops_even_if_its_tick_swallows_the_cancellation() -> None:
    swallower = Swallower()

    async def tick() -> None:
        await swallower.step()

    task = asyncio.create_task(every(0.001, tick, "swallower"))
    await swallower.running.wait()

    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    assert await ends_within(cancel(), task), "every() is still running"
    assert swallower.swallowed == 1
