"""app/stopping.py, the parts that can run inside the test process.

The hard exits (``exit_now``: a second signal, the deadline, a stop that left tasks or
threads behind) end a process, so they are tried on real processes in
tests/app/test_stopping.py. Here: ``run`` when its main returns or fails, the wait for
threads, the bound on closing the loop, the first signal (the real handler, with a real
signal raised in this process, and its deadline timer cancelled before it could fire)
and ``StopGuard``. ``exit_now`` is replaced for every test here by one that raises, so
a mistake fails the test instead of ending the test process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app import stopping
from app.stopping import StopGuard, Stopping

DEADLINE_TIMER = "livecart-stop-deadline"
in_main_thread = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be set from the main thread",
)


class ExitCalled(AssertionError):
    """``exit_now`` was reached: in the real process it would have ended it."""


@pytest.fixture(autouse=True)
def no_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(code: int, message: str, loop: Any = None) -> None:
        raise ExitCalled(f"exit_now({code}, {message!r})")

    monkeypatch.setattr(stopping, "exit_now", refuse)


@pytest.fixture
def handlers() -> Iterator[None]:
    """SIGTERM's and SIGINT's handlers as they were, back after the test; deadline timers
    a test armed are cancelled first (they would end the process a few seconds later)."""
    before = {sig: signal.getsignal(sig) for sig in stopping.SIGNALS}
    timers = {t for t in threading.enumerate() if t.name == DEADLINE_TIMER}
    try:
        yield
    finally:
        for thread in threading.enumerate():
            if thread.name == DEADLINE_TIMER and thread not in timers:
                assert isinstance(thread, threading.Timer)
                thread.cancel()
                thread.join(1)
        for sig, handler in before.items():
            signal.signal(sig, handler)


def armed_timers() -> list[threading.Timer]:
    found = [t for t in threading.enumerate() if t.name == DEADLINE_TIMER]
    return [t for t in found if isinstance(t, threading.Timer) and t.is_alive()]


def no_lingering_threads() -> None:
    """``run`` exits the process when threads linger: not a process to try it in then."""
    lingering = stopping._lingering_threads(0.2)
    if lingering:
        pytest.skip(f"this test process has non-daemon threads running: {lingering}")


# ---- run


def test_run_returns_once_main_returns_and_cancels_what_main_left() -> None:
    no_lingering_threads()
    seen: dict[str, Any] = {}

    async def main() -> None:
        seen["loop"] = asyncio.get_running_loop()
        seen["leftover"] = asyncio.create_task(asyncio.sleep(60), name="leftover")
        seen["thread"] = await asyncio.to_thread(threading.current_thread)  # an executor
        seen["done"] = True

    stopping.run(main(), "test process")
    assert seen["done"]
    assert seen["leftover"].cancelled()
    assert not seen["thread"].is_alive()  # the default executor was shut down
    assert seen["loop"].is_closed()


def test_run_raises_mains_error_after_cancelling_what_main_left() -> None:
    no_lingering_threads()
    seen: dict[str, Any] = {}

    async def main() -> None:
        seen["leftover"] = asyncio.create_task(asyncio.sleep(60), name="leftover")
        await asyncio.sleep(0)
        raise ValueError("main broke")

    with pytest.raises(ValueError, match="main broke"):
        stopping.run(main(), "test process")
    assert seen["leftover"].cancelled()


def test_run_stops_async_generators_main_left_open() -> None:
    no_lingering_threads()
    closed = threading.Event()

    async def ticks() -> Any:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    async def main() -> None:
        gen = ticks()
        await gen.__anext__()  # suspended, never closed by main

    stopping.run(main(), "test process")
    assert closed.is_set()


# ---- threads that hold an exit


def test_lingering_threads_are_the_non_daemon_threads_still_alive() -> None:
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-driver")
    daemonic = threading.Thread(target=release.wait, name="daemonic", daemon=True)
    stuck.start()
    daemonic.start()
    try:
        started = time.monotonic()
        lingering = stopping._lingering_threads(0.3)
        assert time.monotonic() - started < 2.0  # waited about wait_s, not for ever
        assert "stuck-driver" in lingering
        assert "daemonic" not in lingering
    finally:
        release.set()
        stuck.join(5)
        daemonic.join(5)
    assert "stuck-driver" not in stopping._lingering_threads(0.1)


def test_a_thread_ending_within_the_wait_does_not_linger() -> None:
    release = threading.Event()
    ending = threading.Thread(target=release.wait, name="ending-soon")
    ending.start()
    threading.Timer(0.05, release.set).start()  # ends it while the wait is on
    try:
        assert "ending-soon" not in stopping._lingering_threads(5.0)
        assert not ending.is_alive()
    finally:
        release.set()
        ending.join(5)


# ---- closing the loop, bounded


async def test_bounded_gives_up_on_a_close_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    async def shutdown_that_hangs() -> None:
        await asyncio.Event().wait()

    loop = asyncio.get_running_loop()
    started = loop.time()
    await stopping._bounded(shutdown_that_hangs())
    assert loop.time() - started < 2.0
    assert "gave up waiting for" in caplog.text
    assert "shutdown_that_hangs" in caplog.text


async def test_bounded_awaits_a_close_that_ends(caplog: pytest.LogCaptureFixture) -> None:
    closed = asyncio.Event()

    async def quick_close() -> None:
        await asyncio.sleep(0)
        closed.set()

    await stopping._bounded(quick_close())
    assert closed.is_set()
    assert "gave up" not in caplog.text


# ---- the last words before a hard exit (without the exit)


async def test_last_words_name_the_tasks_and_threads_still_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    helper = threading.Thread(target=release.wait, name="db-driver", daemon=True)
    helper.start()
    task = asyncio.create_task(asyncio.sleep(60), name="stuck-task")
    try:
        stopping._last_words("test process: exiting", asyncio.get_running_loop())
        stopping._last_words("no loop", None)
    finally:
        task.cancel()
        release.set()
        helper.join(5)
    (with_loop, without) = [r.getMessage() for r in caplog.records]
    assert with_loop.startswith("test process: exiting; still running: tasks [")
    assert "'stuck-task'" in with_loop
    assert "'db-driver'" in with_loop
    assert threading.main_thread().name not in with_loop
    assert without.startswith("no loop; still running: tasks [], threads [")


# ---- the first signal (a real one, raised in this process)


@in_main_thread
def test_the_first_signal_calls_on_first_and_arms_the_deadline(
    handlers: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "livecart.stopping")
    firsts: list[int] = []
    exits: list[str] = []
    stop = Stopping("test process", deadline_s=60, before_exit=lambda: exits.append("x"))
    stop.install(firsts.append)
    assert stop.loop is None  # no running loop here
    assert signal.getsignal(signal.SIGTERM) == stop._handle
    assert signal.getsignal(signal.SIGINT) == stop._handle

    signal.raise_signal(signal.SIGINT)
    assert firsts == [signal.SIGINT]
    assert stop.signalled == signal.SIGINT
    assert "test process: SIGINT received; stopping within 60s" in caplog.text
    (timer,) = armed_timers()
    assert timer.daemon  # the deadline never holds the exit itself

    # The same request delivered twice at once (a terminal's Ctrl-C and a supervisor's
    # SIGTERM): not a second signal, so no hard exit.
    signal.raise_signal(signal.SIGTERM)
    assert firsts == [signal.SIGINT]
    assert exits == []
    assert stop.signalled == signal.SIGINT
    timer.cancel()


@in_main_thread
async def test_stopping_installed_in_a_running_loop_keeps_it_for_the_last_words(
    handlers: None,
) -> None:
    requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop = Stopping("test process", deadline_s=60)
    stop.install(lambda _sig: loop.call_soon_threadsafe(requested.set))
    assert stop.loop is loop
    signal.raise_signal(signal.SIGTERM)
    async with asyncio.timeout(5):
        await requested.wait()
    assert stop.signalled == signal.SIGTERM


# ---- StopGuard (the web server's app)


class Recorder:
    """The wrapped ASGI app: remembers the scopes it was called with."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope["type"])


async def nothing() -> Any:
    return {}


async def ignore(_message: Any) -> None:
    return None


def test_stop_guard_outside_the_main_thread_only_passes_the_call_on() -> None:
    before = {sig: signal.getsignal(sig) for sig in stopping.SIGNALS}
    inner = Recorder()
    guard = StopGuard(inner)
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            for kind in ("lifespan", "http"):
                asyncio.run(guard({"type": kind}, nothing, ignore))
        except BaseException as exc:  # reported below, in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=serve, name="app-under-test")
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and failed == []
    assert inner.scopes == ["lifespan", "http"]
    assert {sig: signal.getsignal(sig) for sig in stopping.SIGNALS} == before


@in_main_thread
async def test_stop_guard_wraps_the_servers_own_handlers_at_lifespan_startup(
    handlers: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "livecart.stopping")
    servers: list[int] = []
    signal.signal(signal.SIGTERM, lambda sig, _frame: servers.append(sig))  # "uvicorn's"
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # not callable: not passed on
    inner = Recorder()
    guard = StopGuard(inner)

    await guard({"type": "http"}, nothing, ignore)  # other scopes: nothing installed
    assert not isinstance(getattr(signal.getsignal(signal.SIGTERM), "__self__", None), Stopping)

    await guard({"type": "lifespan"}, nothing, ignore)
    assert inner.scopes == ["http", "lifespan"]
    handler = signal.getsignal(signal.SIGTERM)
    owner = getattr(handler, "__self__", None)
    assert isinstance(owner, Stopping)
    assert owner.what == f"livecart serve [{os.getpid()}]"
    assert owner.deadline_s == stopping.DEADLINE_S
    assert signal.getsignal(signal.SIGINT) == handler

    signal.raise_signal(signal.SIGTERM)  # the server's own handler still runs
    assert servers == [signal.SIGTERM]
    assert owner.signalled == signal.SIGTERM
    assert f"livecart serve [{os.getpid()}]: SIGTERM received" in caplog.text
    assert len(armed_timers()) == 1
    for timer in armed_timers():
        timer.cancel()
