"""Stopping background tasks within a bounded time, whatever they are doing.

A cancelled task may swallow its ``CancelledError`` (some library calls do), or wait
in its cleanup on a server that is gone (a rollback on a dead connection): awaiting it
outright could hold a process for ever. Every ``stop()`` that cancels tasks goes through
``cancel_and_wait``: it ends within ``within`` seconds and names what it abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

log = logging.getLogger("livecart.stopping")

STOP_WAIT_S = 2.0  # how long one stop() waits for its cancelled tasks
_FIRST_CANCEL_S = 1.0  # how long the first cancellation is left to work
_RECANCEL_S = 0.25  # then a task that swallowed it is cancelled again this often

T = TypeVar("T")


async def loop_step(
    step: Callable[[], Awaitable[T]], what: str, logger: logging.Logger
) -> T | None:
    """One pass of a background loop: ``step``'s result, or None when it failed (logged on
    ``logger``; the loop goes on). Raises ``CancelledError`` when the loop's task is being
    stopped, even if ``step`` swallowed the cancellation (seen with database calls):
    a loop built on this stops when told, not never."""
    try:
        result: T | None = await step()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("%s failed: %r", what, exc)
        result = None
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return result


async def nap(wake: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``wake`` is set meanwhile (it is cleared first).
    With ``asyncio.timeout``, not ``wait_for``: on Python 3.11 wait_for returns normally
    when cancelled just as the event is set, and the loop would go on."""
    wake.clear()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]],
    *,
    within: float = STOP_WAIT_S,
    what: str = "tasks",
) -> list[str]:
    """Cancel ``tasks`` and wait until they end, at most ``within`` seconds.

    Guarantees: returns within ``within`` seconds (plus one loop turn) even if a task
    ignores every cancellation; a task still running then is left behind, logged by
    name, and its name returned (empty list: all ended). Errors the tasks ended with
    are retrieved (not reported as "never retrieved"), not raised. Cancelling the
    caller cancels the wait, not the guarantee: the tasks were cancelled already.
    """
    tasks = list(tasks)
    for task in tasks:
        if task.done():
            _retrieve(task)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # The first cancellation gets a moment for its cleanup (a rollback, a pool check-in)
    # before the next one would interrupt that cleanup too.
    grace = min(_FIRST_CANCEL_S, within / 2)
    while pending:
        for task in pending:
            task.cancel()  # again each round: a swallowed cancellation is not the last
        left = deadline - loop.time()
        if left <= 0:
            break
        done, pending = await asyncio.wait(pending, timeout=min(left, grace))
        grace = _RECANCEL_S
        for task in done:
            _retrieve(task)
    names = sorted(task.get_name() for task in pending)
    if names:
        log.warning("%s: abandoned after %.1fs, still running: %s", what, within, names)
    return names


async def to_completion(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` in a task of its own until it ends, even if the caller is cancelled
    meanwhile; that cancellation is raised afterwards. For steps that must not stop
    half-way: a commit whose connection goes back to the pool with a reset ``ROLLBACK``,
    interrupted, loses the connection (and logs a traceback)."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError as exc:
            if task.done():  # the work itself was cancelled (say, at loop shutdown)
                raise
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return result


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished task's error as seen (stopping reports no "never retrieved")."""
    if not task.cancelled():
        task.exception()


async def close_within(
    close: Callable[[], Awaitable[object]], what: str, *, within: float = STOP_WAIT_S
) -> bool:
    """Run ``close()`` (a pool's ``dispose``, a client's ``aclose``) for at most ``within``
    seconds. True when it finished; False when it failed or was abandoned (logged)."""

    async def run() -> None:
        await close()

    task = asyncio.ensure_future(run())
    task.set_name(f"close {what}")
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        await cancel_and_wait([task], within=0.5, what=f"closing {what}")
        return False
    if task.cancelled() or task.exception() is not None:
        log.warning("closing %s failed: %r", what, None if task.cancelled() else task.exception())
        return False
    return True
