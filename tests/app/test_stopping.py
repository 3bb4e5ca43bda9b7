"""Background loops stop when told, even if a step swallows the cancellation.

Seen as ``livecart serve`` hanging on SIGTERM right after start (Redis mode): the
outbox relay's step ran a database call that ate the ``CancelledError``, so the loop
went back to waiting and ``stop()`` waited on it for ever. On Python 3.11,
``asyncio.wait_for`` also returns normally when cancelled just as its event is set."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import cast

import pytest

from app.stopping import SAME_SIGNAL_S
from checkout.loops import Loops
from common.tasks import STOP_WAIT_S, cancel_and_wait, close_within
from live.clock import DealClock
from live.hub import Hub
from live.presence import every

ROOT = Path(__file__).resolve().parents[2]


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
    """Whether ``work`` (stopping ``tasks``) ends within a second more than a stop's
    bound (``STOP_WAIT_S``), the tasks with it. Waited on
    with ``asyncio.wait``: a timeout that cancelled ``work`` would cancel the tasks
    again and hide the bug. Cleans up either way."""
    stopping = asyncio.ensure_future(work)
    await asyncio.wait([stopping], timeout=STOP_WAIT_S + 1)
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


# ---- bounded stops (common/tasks.py)


async def deaf_until(released: asyncio.Event) -> None:
    """A task that ignores every cancellation (until the test releases it): the worst a
    stop() can meet."""
    while not released.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await released.wait()


async def test_cancel_and_wait_returns_in_time_and_names_what_it_abandoned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = asyncio.Event()
    deaf = asyncio.create_task(deaf_until(released), name="deaf")
    swallower = Swallower()
    once = asyncio.create_task(swallower.step(), name="swallows-once")
    polite = asyncio.create_task(asyncio.sleep(10), name="polite")
    await swallower.running.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    left = await cancel_and_wait([deaf, once, polite], within=0.6, what="test tasks")
    assert loop.time() - started < 1.0
    assert left == ["deaf"]  # the one that swallowed once was cancelled again
    assert once.done() and polite.cancelled() and not deaf.done()
    assert "test tasks: abandoned after 0.6s, still running: ['deaf']" in caplog.text
    released.set()
    await deaf


async def test_the_deal_clock_stops_in_time_even_if_a_pass_ignores_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released, started = asyncio.Event(), asyncio.Event()
    clock = DealClock(cast(Hub, None))

    async def deaf_pass() -> float:  # a pass stuck on a database that is gone
        started.set()
        await deaf_until(released)
        return 1.0

    clock.run_once = deaf_pass  # type: ignore[method-assign]
    await clock.start()
    await started.wait()
    assert await ends_within(clock.stop()), "DealClock.stop() did not return"
    assert "deal clock: abandoned after 2.0s, still running: ['livecart-deal-clock']" in caplog.text
    released.set()  # the pass ends; the clock sees it was stopped and ends too
    assert clock._task is not None
    with contextlib.suppress(asyncio.CancelledError):
        await clock._task


async def test_close_within_gives_up_on_a_close_that_hangs() -> None:
    hung = asyncio.Event()

    async def close() -> None:
        await asyncio.shield(hung.wait())  # never set: a close on a dead server

    assert not await close_within(close, "hung", within=0.2)

    async def broken() -> None:
        raise OSError("connection refused")

    assert not await close_within(broken, "broken", within=1)  # logged, not raised
    assert await close_within(lambda: asyncio.sleep(0), "quick", within=1)


# ---- whole processes (app/stopping.py), real signals

SCRIPT = """
import asyncio, contextlib, logging, sys
from app import stopping
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

async def deaf():
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

async def main(mode):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stopping.Stopping("test process", deadline_s=2.0 if mode == "deadline" else 30.0).install(
        lambda sig: loop.call_soon_threadsafe(stop.set))
    asyncio.create_task(deaf(), name="deaf-task")
    print("ready", flush=True)
    await stop.wait()
    print("stop requested", flush=True)
    if mode != "leftover":
        await asyncio.Event().wait()  # a stop that never ends

stopping.run(main(sys.argv[1]), "test process")
"""


class Script:
    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, mode], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []

    def until(self, text: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in {self.lines}")

    def exit_within(self, within: float) -> tuple[int, float, str]:
        started = time.monotonic()
        try:
            out, _ = self.proc.communicate(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"still running after {within}s: {self.lines}") from None
        return self.proc.returncode, time.monotonic() - started, "".join(self.lines) + out


def test_a_second_signal_exits_at_once_whatever_the_stop_is_doing() -> None:
    script = Script("stuck")
    script.until("ready")
    script.proc.send_signal(signal.SIGTERM)
    script.until("stop requested")
    time.sleep(SAME_SIGNAL_S)  # the rule under test: a repeat this soon is the same signal
    script.proc.send_signal(signal.SIGINT)
    code, _took, out = script.exit_within(1.0)
    assert code == 128 + signal.SIGINT, out
    assert "test process: second signal (SIGINT); exiting at once" in out
    assert "deaf-task" in out  # what was still running is named


def test_a_signal_repeated_at_once_is_the_same_request() -> None:
    script = Script("deadline")
    script.until("ready")
    script.proc.send_signal(signal.SIGINT)
    script.proc.send_signal(signal.SIGTERM)  # as a terminal and a supervisor both send
    code, took, out = script.exit_within(6.0)
    assert code == 1, out  # the deadline ended it, not the repeat
    assert took > 1.0, out
    assert "test process: not stopped 2s after the signal" in out


def test_tasks_a_finished_stop_left_behind_do_not_hold_the_exit() -> None:
    script = Script("leftover")
    script.until("ready")
    script.proc.send_signal(signal.SIGTERM)
    code, _took, out = script.exit_within(5.0)
    assert code == 0, out
    assert "leaving tasks ['deaf-task']" in out
