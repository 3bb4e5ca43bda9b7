"""checkout/loops.py: a stop lets each loop finish the step it is in, within a bound.

A step cancelled half-way through a database transaction gets its rollback interrupted
too when the stop cancels again (seen in CI: a webhook worker's SIGTERM logged the
pool's "Exception during reset" traceback). So a loop ends at a step's end if it can."""

from __future__ import annotations

import asyncio

from checkout.loops import Loops

WAIT_S = 10.0


class Gate:
    """A step that says when it is inside and finishes when let go."""

    def __init__(self) -> None:
        self.inside = asyncio.Event()
        self.go = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def step(self) -> bool:
        self.inside.set()
        try:
            await self.go.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return True  # busy: go round again at once, unless stopping


async def test_a_step_in_progress_finishes_and_the_loop_ends_there() -> None:
    loops, gate = Loops(idle_s=60), Gate()
    loops.spawn(gate.step, "gated")
    await gate.inside.wait()
    stopping = asyncio.create_task(loops.stop())
    await asyncio.sleep(0)  # the stop is now waiting for the step
    assert not stopping.done()
    gate.go.set()
    async with asyncio.timeout(WAIT_S):
        await stopping
    assert (gate.finished, gate.cancelled) == (1, 0)  # not a second pass either


async def test_a_step_that_runs_past_the_bound_is_cancelled() -> None:
    loops, gate = Loops(idle_s=60, finish_s=0.05), Gate()
    loops.spawn(gate.step, "stuck")
    await gate.inside.wait()
    async with asyncio.timeout(WAIT_S):
        await loops.stop()
    assert (gate.finished, gate.cancelled) == (0, 1)


async def test_an_idle_loop_and_a_waiting_step_end_at_once() -> None:
    # A bound longer than the test's timeout: waiting it out would fail the test.
    loops, sleeper, idle_steps = Loops(idle_s=60, finish_s=2 * WAIT_S), Gate(), []

    async def idle() -> bool:
        idle_steps.append(1)
        return False  # nothing to do: nap idle_s

    loops.spawn(idle, "idle")
    loops.spawn(sleeper.step, "sleeper", finish=False)
    await sleeper.inside.wait()
    async with asyncio.timeout(WAIT_S):  # the nap is woken, the sleeper cancelled
        await loops.stop()
    assert sleeper.cancelled == 1 and idle_steps == [1]
