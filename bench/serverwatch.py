"""Run a benchmark server with its slow garbage collections logged.

    python -m bench.serverwatch LOGFILE MODULE [ARGS...]
    e.g. python -m bench.serverwatch /tmp/w.log uvicorn app.main:app --port 8000

Runs ``MODULE`` (``app.cli``, ``uvicorn``, ``bench.refservers``) in this process as
``__main__``, unchanged but for a ``gc.callbacks`` hook that appends a line to LOGFILE
for every collection that takes 5 ms or more:
``<unix time> gc gen=<generation> ms=<wall> collected=<n>``, and the number of
collections per generation at exit. Used by ``python -m bench.fanout --watch``.

It patches nothing of the server's: how long the server spends on one fan-out is
measured from outside, by ``bench.fanout`` (the server's CPU time per pin and the
spread of the viewers' receive times).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import runpy
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logfile")
    parser.add_argument("module", help="run as __main__, e.g. app.cli or uvicorn")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the module's arguments")
    args = parser.parse_args()
    log = open(args.logfile, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    started: dict[int, float] = {}
    counts = [0, 0, 0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        gen = info["generation"]
        if phase == "start":
            started[gen] = time.perf_counter()
            return
        counts[gen] += 1
        ms = (time.perf_counter() - started.pop(gen, time.perf_counter())) * 1000
        if ms >= 5:
            log.write(f"{time.time():.3f} gc gen={gen} ms={ms:.1f} collected={info['collected']}\n")

    gc.callbacks.append(on_gc)
    atexit.register(lambda: log.write(f"# gc collections per generation: {counts}\n"))
    sys.argv = [args.module, *args.args]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
