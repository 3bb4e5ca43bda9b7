"""Run a benchmark server with diagnostics: slow garbage collections and fan-out timings.

    python bench/serverwatch.py LOGFILE MODULE_OR_SCRIPT [ARGS...]
    e.g. python bench/serverwatch.py /tmp/w.log uvicorn app.main:app --port 8000

Runs the server in this process as ``__main__`` (``uvicorn``, ``app.cli``, or a
script path), unchanged except for two hooks that append lines to LOGFILE:

- ``gc``: every collection that takes 5 ms or more:
  ``<unix time> gc gen=<generation> ms=<wall> collected=<n>``;
- ``fanout``: how long the server itself spends handing one broadcast frame to
  every viewer (wall and CPU time of the loop, not the delivery), for
  livecart's ``Hub._fanout`` and for ``websockets``' ``broadcast()``:
  ``<unix time> fanout viewers=<n> ms=<wall> cpu_ms=<process CPU>``.

Used by ``bench/fanout.py --watch DIR``. Wrapping adds a few microseconds per
frame, not per viewer.
"""

from __future__ import annotations

import atexit
import gc
import runpy
import sys
import time
from typing import Any

log_path, target, *rest = sys.argv[1:]
log = open(log_path, "a", buffering=1)  # noqa: SIM115
started: dict[int, float] = {}
counts = [0, 0, 0]


def gc_hook(phase: str, info: dict[str, int]) -> None:
    gen = info["generation"]
    if phase == "start":
        started[gen] = time.perf_counter()
        return
    counts[gen] += 1
    ms = (time.perf_counter() - started.pop(gen, time.perf_counter())) * 1000
    if ms >= 5:
        log.write(f"{time.time():.3f} gc gen={gen} ms={ms:.1f} collected={info['collected']}\n")


def timed(viewers: Any, call: Any) -> Any:
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        return call()
    finally:
        ms = (time.perf_counter() - t0) * 1000
        cpu = (time.process_time() - c0) * 1000
        log.write(f"{time.time():.3f} fanout viewers={viewers} ms={ms:.2f} cpu_ms={cpu:.2f}\n")


def patch_livecart() -> None:
    try:
        from live.hub import Hub
    except ImportError:
        return
    original = Hub._fanout

    def _fanout(self: Any, live: Any, frames: Any) -> None:
        if any(f.text.startswith('{"type":"pinned"') for f in frames):
            timed(len(live.viewers), lambda: original(self, live, frames))
        else:
            original(self, live, frames)

    Hub._fanout = _fanout  # type: ignore[method-assign]


def patch_websockets() -> None:
    import websockets.asyncio.server as server

    original = server.broadcast

    def broadcast(connections: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        connections = list(connections)
        timed(len(connections), lambda: original(connections, message, *args, **kwargs))

    server.broadcast = broadcast


gc.callbacks.append(gc_hook)
atexit.register(lambda: log.write(f"# gc collections per generation: {counts}\n"))
if target.endswith(".py"):
    sys.path.insert(0, str(__import__("pathlib").Path(target).resolve().parent))
    patch_websockets()
    sys.argv = [target, *rest]
    runpy.run_path(target, run_name="__main__")
else:
    patch_livecart()
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
