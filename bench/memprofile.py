"""Where livecart's memory per idle viewer goes: tracemalloc and object counts, one-off.

    python -m bench.memprofile [--viewers 5000] [--ws livecart|sansio] [--frames 12]

Runs the livecart app in this process (uvicorn in a thread, with livecart's own
server options, or plain ``websockets-sansio`` for the queued path), connects
``--viewers`` idle viewers from the load generator process of
``bench.fanout``, and compares a tracemalloc snapshot and a count of
GC-tracked objects taken before and after (one warm-up viewer is connected
before the first, as in the benchmark). Everything is reported per viewer.

tracemalloc slows the server down and adds its own bookkeeping (not counted in
its figures, but in RSS); the RSS figures here are therefore higher than the
benchmark's. What matters is the breakdown.
"""

from __future__ import annotations

import argparse
import collections
import gc
import linecache
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench import fanout
from bench.loadgen import LoadGen


def type_counts() -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        t = type(obj)
        counts[f"{t.__module__}.{t.__qualname__}"] += 1
    return counts


SOURCE_PREFIX: list[str] = []


def short(path: str) -> str:
    for marker in ("site-packages/", *SOURCE_PREFIX, "/work/main/"):
        i = path.find(marker)
        if i >= 0:
            return path[i + len(marker) :]
    i = path.find("/lib/python3.")
    if i >= 0:
        return "stdlib/" + path[i:].split("/", 3)[-1]
    return path


def package_of(path: str) -> str:
    parts = short(path).split("/")
    if parts[0] in ("app", "live", "checkout"):
        return "livecart " + parts[0]
    if parts[0] == "stdlib" and len(parts) > 1:
        return "stdlib " + parts[1]
    return parts[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--ws", choices=["livecart", "sansio"], default="livecart")
    parser.add_argument("--frames", type=int, default=8, help="tracemalloc traceback depth")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=50, help="connects in flight")
    parser.add_argument(
        "--no-trace", action="store_true", help="no tracemalloc: RSS and object counts only"
    )
    parser.add_argument("--source", type=Path, default=None, help="livecart source tree to import")
    return parser.parse_args()


def start_server(args: argparse.Namespace) -> tuple[Any, threading.Thread, int]:
    """The livecart app under uvicorn in a thread of this process: (server, thread, port).
    The app is imported here, after ``--source`` is on the path and tracemalloc started."""
    import uvicorn

    from app.factory import create_app
    from app.server import uvicorn_options
    from app.settings import Settings

    settings = Settings.from_env()
    options = uvicorn_options(settings)
    if args.ws == "sansio":
        options["ws"] = "websockets-sansio"
    port = kit.free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning", **options)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, port


def main() -> int:
    args = parse_args()
    if args.source:
        sys.path.insert(0, str(args.source.resolve()))
        SOURCE_PREFIX.append(str(args.source.resolve()) + "/")
    n = args.viewers

    kit.raise_fd_limit()
    workdir = tempfile.mkdtemp(prefix="memprofile-")
    os.chdir(workdir)
    for k in ("REDIS_URL", "DATABASE_URL"):
        os.environ.pop(k, None)
    os.environ["SECRET_KEY"] = kit.SECRET_KEY

    if not args.no_trace:
        tracemalloc.start(args.frames)
    server, thread, port = start_server(args)

    gen = LoadGen("uvloop", None)
    try:
        setup = fanout.setup_livecart(port)
        path = fanout.VIEWER_PATH.format(live_id=setup["live_id"])
        gen.call("connect", "127.0.0.1", port, path, 1, 1, 30.0, "warm-up")
        time.sleep(1.0)
        gc.collect()
        rss0 = kit.rss_kb(os.getpid())
        snap0 = tracemalloc.take_snapshot() if not args.no_trace else None
        types0 = type_counts()

        res = gen.call(
            "connect", "127.0.0.1", port, path, n, args.concurrency, 120.0, f"memprofile N={n:,}"
        )
        time.sleep(2.0)
        rss1 = kit.rss_kb(os.getpid())
        traced_nogc = tracemalloc.get_traced_memory()[0] if not args.no_trace else 0
        gc.collect()
        rss1_gc = kit.rss_kb(os.getpid())
        snap1 = tracemalloc.take_snapshot() if not args.no_trace else None
        types1 = type_counts()
        report(args, res, rss0, rss1, rss1_gc, traced_nogc, snap0, snap1, types0, types1)
        anatomy(server)
        gen.call("close", 30.0)
    finally:
        gen.shutdown()
        server.should_exit = True
        thread.join(15)
    return 0


def report(
    args: argparse.Namespace,
    res: dict[str, Any],
    rss0: int,
    rss1: int,
    rss1_gc: int,
    traced_nogc: int,
    snap0: tracemalloc.Snapshot | None,
    snap1: tracemalloc.Snapshot | None,
    types0: collections.Counter[str],
    types1: collections.Counter[str],
) -> None:
    n = res["connected"]
    traced_by = "no tracemalloc" if snap0 is None or snap1 is None else "tracemalloc"
    print(f"\n# memory per idle viewer, ws={args.ws}, {n:,} viewers, {traced_by}\n")
    print(
        f"RSS: {rss0 / 1024:.1f} MB -> {rss1 / 1024:.1f} MB = {(rss1 - rss0) / n:.1f} KB/viewer"
        f" (after gc.collect(): {(rss1_gc - rss0) / n:.1f})"
    )
    if snap0 is not None and snap1 is not None:
        print_traced(args, n, rss1_gc - rss0, traced_nogc, snap0, snap1)
    print_types(n, types0, types1)


def print_traced(
    args: argparse.Namespace,
    n: int,
    rss_growth: int,
    traced_nogc: int,
    snap0: tracemalloc.Snapshot,
    snap1: tracemalloc.Snapshot,
) -> None:
    """What tracemalloc saw: per package, per line and per traceback, per viewer."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    snap0, snap1 = snap0.filter_traces(ignore), snap1.filter_traces(ignore)
    total0 = sum(s.size for s in snap0.statistics("filename"))
    total1 = sum(s.size for s in snap1.statistics("filename"))
    traced = (total1 - total0) / n / 1024
    print(
        f"traced by tracemalloc (live Python allocations): {traced:.2f} KB/viewer"
        f" (before gc.collect(): {(traced_nogc - total0) / n / 1024:.2f})"
    )
    untraced = (rss_growth * 1024 - (total1 - total0)) / n / 1024
    print(
        f"RSS not explained by live traced allocations: {untraced:.2f} KB/viewer"
        " (mostly tracemalloc's own bookkeeping in this mode)\n"
    )

    print("## by package (allocation site of the innermost frame)\n")
    by_pkg: collections.Counter[str] = collections.Counter()
    for stat in snap1.compare_to(snap0, "filename"):
        by_pkg[package_of(stat.traceback[0].filename)] += stat.size_diff
    print("| package | bytes/viewer |\n|---|---:|")
    for pkg, size in by_pkg.most_common(15):
        print(f"| {pkg} | {size / n:,.0f} |")

    print(f"\n## top {args.top} allocation lines\n")
    print("| bytes/viewer | blocks/viewer | where | code |\n|---:|---:|---|---|")
    for stat in snap1.compare_to(snap0, "lineno")[: args.top]:
        frame = stat.traceback[0]
        code = linecache.getline(frame.filename, frame.lineno).strip().replace("|", "\\|")[:70]
        print(
            f"| {stat.size_diff / n:,.0f} | {stat.count_diff / n:.2f} "
            f"| {short(frame.filename)}:{frame.lineno} | `{code}` |"
        )

    print("\n## top allocation tracebacks (outermost livecart/uvicorn/websockets frames)\n")
    for stat in snap1.compare_to(snap0, "traceback")[:15]:
        print(f"- {stat.size_diff / n:,.0f} B/viewer, {stat.count_diff / n:.2f} blocks/viewer")
        for frame in list(stat.traceback)[:6]:
            print(f"    {short(frame.filename)}:{frame.lineno}")


def print_types(n: int, types0: collections.Counter[str], types1: collections.Counter[str]) -> None:
    before, after = sum(types0.values()), sum(types1.values())
    print(
        f"\nGC-tracked objects: {before:,} before, {after:,} after: "
        f"{(after - before) / n:.1f} per viewer (a full collection visits all of them)"
    )
    print("\n## GC-tracked objects per viewer (new minus old)\n")
    print("| type | objects/viewer |\n|---|---:|")
    diff = collections.Counter({k: types1[k] - types0.get(k, 0) for k in types1})
    for name, count in diff.most_common(40):
        if count / n < 0.5:
            break
        print(f"| {name} | {count / n:.2f} |")


def deep_size(obj: Any, seen: set[int] | None = None, depth: int = 0) -> int:
    """sys.getsizeof over plain containers/strings/Headers/Request/Response, not into others."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 8:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        for k, v in obj.items():
            size += deep_size(k, seen, depth + 1) + deep_size(v, seen, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            size += deep_size(v, seen, depth + 1)
    elif type(obj).__module__.startswith("websockets.") and hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen, depth + 1)
    return size


def anatomy(server: Any) -> None:
    """One idle viewer taken apart: its ASGI coroutine chain and what its protocol keeps."""
    protos = [c for c in server.server_state.connections if hasattr(c, "conn")]
    tasks = [
        t for t in list(server.server_state.tasks) if t.get_coro().__qualname__.endswith("run_asgi")
    ]
    if not protos or not tasks:
        return
    print("\n## one idle viewer, taken apart\n")
    chain, coro = [], tasks[len(tasks) // 2].get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append((coro.cr_code.co_qualname, coro.cr_code.co_filename, sys.getsizeof(coro)))
        coro = coro.cr_await
    print(
        f"ASGI task: {len(chain)} suspended coroutines, {sum(c[2] for c in chain):,} bytes "
        "(sys.getsizeof, frames included; closures, cells and locals' objects not included):\n"
    )
    print("| coroutine | where | bytes |\n|---|---|---:|")
    for name, filename, size in chain:
        print(f"| {name} | {short(filename)} | {size} |")
    if coro is not None:
        print(f"| (awaiting) {type(coro).__name__} | | {sys.getsizeof(coro)} |")

    held = 0
    for t in tasks:
        c = t.get_coro()
        while c is not None and hasattr(c, "cr_code"):
            frame = c.cr_frame if c.cr_code.co_name == "live_socket" else None
            if frame is not None and type(frame.f_locals.get("db_session")).__name__ == (
                "AsyncSession"
            ):
                held += 1
            c = c.cr_await
    print(
        f"\nlive_socket frames still holding their closed AsyncSession as `db_session`: "
        f"{held} of {len(tasks)} viewers"
    )

    n = len(protos)
    parts = {
        "protocol object + its __dict__": sum(
            sys.getsizeof(p) + sys.getsizeof(vars(p)) for p in protos
        ),
        "handshake Request still held (proto.request)": sum(deep_size(p.request) for p in protos),
        "handshake Response still held (proto.response)": sum(
            deep_size(p.response) for p in protos
        ),
        "scope['headers'] (list of byte tuples)": sum(
            deep_size(p.scope["headers"]) for p in protos
        ),
    }
    print("\n| part, per viewer | bytes |\n|---|---:|")
    for name, total in parts.items():
        print(f"| {name} | {total / n:,.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
