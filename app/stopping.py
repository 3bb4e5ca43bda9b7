"""How a livecart process stops (``livecart worker``, ``livecart serve``, its ``--workers``).

The first SIGTERM or SIGINT starts a graceful stop and arms a deadline: the process is
gone ``DEADLINE_S`` seconds later whatever it is waiting on (a dead Redis, a task that
swallows its cancellation, a database thread stuck on a lock). A second signal exits at
once. Both hard exits are logged with what was still running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from common.tasks import cancel_and_wait

log = logging.getLogger("livecart.stopping")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# uvicorn's timeout_graceful_shutdown: requests in flight get this long, then are cancelled.
GRACE_S = 3  # whole seconds: uvicorn types it int
# After the first signal the process exits within this, stuck or not: the backstop. Each
# stop in a lifespan is bounded too (common.tasks), but they run one after another and
# in the worst case (every one stuck) add up to more than this.
DEADLINE_S = 10.0

# A signal this soon after the first is the same request, not a second one: a terminal's
# Ctrl-C reaches every process of the group, and uvicorn's supervisor then also sends
# SIGTERM to each worker process.
SAME_SIGNAL_S = 1.0
# How long a hard exit waits for its last log line.
LAST_WORDS_S = 0.5

Handler = Callable[[int, FrameType | None], Any]


def exit_now(code: int, message: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Log ``message`` with what is still running (``loop``'s tasks, the threads), flush
    the logs and ``os._exit``: no cleanup runs (that is what is stuck). The exit happens
    whatever the logging does: it gets ``LAST_WORDS_S`` on a thread of its own (a stuck
    stderr or a handler lock held by the blocked main thread cannot keep the process)."""
    try:
        say = threading.Thread(target=_last_words, args=(message, loop), daemon=True)
        say.start()
        say.join(LAST_WORDS_S)
    finally:
        os._exit(code)


def _last_words(message: str, loop: asyncio.AbstractEventLoop | None) -> None:
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    try:  # from another thread the task set may change under us
        tasks = sorted(t.get_name() for t in asyncio.all_tasks(loop)) if loop is not None else []
    except RuntimeError:
        tasks = ["?"]
    log.warning("%s; still running: tasks %s, threads %s", message, tasks, threads)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()


class Stopping:
    """One process's stop. ``install(on_first)`` takes SIGTERM and SIGINT (main thread):
    the first calls ``on_first(signal)`` and arms the deadline, a second (``SAME_SIGNAL_S``
    or more later) exits with status 128 + signal, the deadline passing exits with
    status 1; ``before_exit`` runs before either hard exit."""

    def __init__(
        self,
        what: str,
        *,
        deadline_s: float = DEADLINE_S,
        before_exit: Callable[[], object] = lambda: None,
    ) -> None:
        self.what = what
        self.deadline_s = deadline_s
        self.before_exit = before_exit  # at a hard exit: say, kill the worker processes
        self.signalled: int | None = None
        self._first_at = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._on_first: Callable[[int], object] = lambda _sig: None

    def install(self, on_first: Callable[[int], object]) -> None:
        """Call from the main thread, in the running event loop if there is one."""
        self._on_first = on_first
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        for sig in SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, sig: int, _frame: FrameType | None) -> None:
        name = signal.Signals(sig).name
        if self.signalled is not None:
            if time.monotonic() - self._first_at < SAME_SIGNAL_S:
                return  # the same request, delivered twice (see SAME_SIGNAL_S)
            self.before_exit()
            exit_now(128 + sig, f"{self.what}: second signal ({name}); exiting at once", self.loop)
        self.signalled, self._first_at = sig, time.monotonic()
        log.info(
            "%s: %s received; stopping within %.0fs (a second signal exits at once)",
            self.what, name, self.deadline_s,
        )  # fmt: skip
        timer = threading.Timer(self.deadline_s, self._overdue)
        timer.daemon = True
        timer.name = "livecart-stop-deadline"
        timer.start()
        self._on_first(sig)

    def _overdue(self) -> None:
        self.before_exit()
        exit_now(1, f"{self.what}: not stopped {self.deadline_s:.0f}s after the signal", self.loop)


def run(main: Coroutine[Any, Any, None], what: str) -> None:
    """``asyncio.run(main)``, except that a task or thread ``main`` left behind cannot hold
    the exit: asyncio.run would wait for ever on a task that ignores cancellation, and the
    interpreter on a non-daemon thread. Leftover tasks get ``cancel_and_wait``; if any
    task or thread still runs after that, the process exits at once (status 0 when
    ``main`` returned: its stop is done), naming them. ``main``'s error is raised."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    failed = True
    try:
        loop.run_until_complete(main)
        failed = False
    finally:
        # Mostly tasks a stop() already gave up on: a second, shorter wait.
        leftovers = cancel_and_wait(asyncio.all_tasks(loop), within=1.0, what=what)
        left = loop.run_until_complete(leftovers)
        for closing in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
            loop.run_until_complete(_bounded(closing))
        asyncio.set_event_loop(None)
        lingering = _lingering_threads()
        if left or lingering:
            if failed:
                log.error("%s failed", what, exc_info=True)
            message = f"{what}: stopped, leaving tasks {left} and threads {lingering} behind"
            exit_now(int(failed), message)
        loop.close()


def _lingering_threads(wait_s: float = 0.5) -> list[str]:
    """Non-daemon threads (the interpreter waits for those at exit) still alive after
    ``wait_s``: a database driver's thread stuck on a lock, say."""
    others = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    for thread in others:
        thread.join(wait_s / len(others))
    return [t.name for t in others if t.is_alive()]


async def _bounded(closing: Coroutine[Any, Any, None]) -> None:
    try:
        async with asyncio.timeout(1.0):
            await closing
    except TimeoutError:
        log.warning("gave up waiting for %s", getattr(closing, "__qualname__", closing))


class StopGuard:
    """ASGI middleware for the server process's app (``app.main``): at lifespan startup it
    wraps the server's own signal handlers (uvicorn's, which start its graceful stop) in a
    ``Stopping``, so the first signal also arms the deadline and a second exits at once.
    With ``--workers`` each worker process does this for itself. Outside the main thread
    (an app under test) it does nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and threading.current_thread() is threading.main_thread():
            _guard_server_signals()
        await self.app(scope, receive, send)


def _guard_server_signals() -> None:
    previous: dict[int, Handler] = {}
    for sig in SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler

    def on_first(sig: int) -> None:
        if sig in previous:
            previous[sig](sig, None)

    Stopping(f"livecart serve [{os.getpid()}]").install(on_first)
