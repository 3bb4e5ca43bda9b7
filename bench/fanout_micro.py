"""The Python cost per viewer of one fan-out, without sockets: livecart's hub vs a bare loop.

    python bench/fanout_micro.py [--viewers 10000] [--source DIR]

Builds livecart's real fan-out path (``Hub._fanout`` → ``Hub._offer`` →
``DirectSink.offer`` → ``DirectWriter.write``) over fake transports whose
``write``, ``get_write_buffer_size`` and ``is_closing`` are no-op C builtins, and
times one ``pinned`` frame to every viewer. The same fake transports are then
driven by the loop of ``bench/ref_floor.py`` (``for t in transports: t.write(wire)``).
What remains is pure interpreter work: the part of a fan-out that code changes
can remove. The socket write itself (the larger part on a real server, see
docs/benchmarks.md) is not included.

Objects are built in the same interleaved order as on a real server but on a
small heap, so memory-locality effects (cache misses on a 400 MB heap) are
understated here.
"""

from __future__ import annotations

import argparse
import collections
import gc
import statistics
import sys
import time
from pathlib import Path


class FakeTransport:
    __slots__ = ("get_write_buffer_size", "is_closing", "write")

    def __init__(self) -> None:
        self.write = collections.deque[bytes](maxlen=0).append  # C, discards
        self.get_write_buffer_size = int  # C, returns 0
        self.is_closing = bool  # C, returns False


class FakeProto:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.close_sent = False
        self.disconnected = False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--source", type=Path, default=None, help="livecart source tree")
    parser.add_argument(
        "--spread-kb",
        type=int,
        default=0,
        help="allocate this much other data per viewer between viewers, kept alive, to spread "
        "each viewer's objects over a large heap as on a real server (e.g. 28)",
    )
    args = parser.parse_args()
    if args.source:
        sys.path.insert(0, str(args.source.resolve()))

    from app.wsproto import DirectWriter
    from app.wssinks import DirectSink
    from live.channel import Channel
    from live.frames import Frame
    from live.hub import Hub
    from live.served import ServedLive, Viewer

    hub = Hub(broker=None, sessions=None)  # type: ignore[arg-type]  # _fanout uses neither
    channel = ServedLive(Channel(live_id=1))
    transports = []
    ballast: list[object] = []
    for _ in range(args.viewers):
        # dicts and lists of small objects: what a connection's other state looks like
        ballast.extend({"k": [i, str(i)]} for i in range(args.spread_kb * 1024 // 400))
        proto = FakeProto()
        transports.append(proto.transport)
        sink = DirectSink(DirectWriter(proto, 512 * 1024), websocket=None)  # type: ignore[arg-type]
        channel.viewers.add(Viewer(live_id=1, user_id=None, sink=sink))
    gc.collect()
    gc.disable()  # time the loops, not a collection that happens to land in them

    def livecart(seq: int) -> None:
        frame = Frame.make("pinned", 1, {"x": 1}, seq=seq)
        hub._fanout(channel, [frame])

    def floor(seq: int) -> None:
        wire = Frame.make("pinned", 1, {"x": 1}, seq=seq).wire
        for t in transports:
            t.write(wire)

    results: dict[str, list[float]] = {"livecart hub": [], "bare loop (ref_floor)": []}
    for i in range(args.repeat):
        for name, fn in (("livecart hub", livecart), ("bare loop (ref_floor)", floor)):
            t0 = time.perf_counter()
            fn(i + 1)
            results[name].append((time.perf_counter() - t0) * 1e6 / args.viewers)
    gc.enable()
    print(
        f"{args.viewers:,} viewers, {args.repeat} frames, {args.spread_kb} KB of other objects "
        "between viewers; Python time per viewer per frame:"
    )
    for name, values in results.items():
        print(f"  {name:<24} median {statistics.median(values):5.2f} µs, min {min(values):5.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
