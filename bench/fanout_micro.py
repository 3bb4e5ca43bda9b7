"""The Python cost per viewer of one fan-out, without sockets: livecart's hub vs a bare loop.

    python -m bench.fanout_micro [--viewers 10000] [--repeat 30] [--spread-kb 0]

Builds the hub as a server does, through its public interface only: a ``live.hub.Hub``
over the in-process ``MemoryBroker`` and a migrated SQLite database (in a temp dir)
holding one started live, and ``--viewers`` viewers joined with ``Hub.join``, each
with the direct sink a viewer socket gets (``app.wssinks.DirectSink`` over
``app.wsproto.DirectWriter``) on a fake connection whose transport's ``write``,
``get_write_buffer_size`` and ``is_closing`` are no-op C builtins. Each measured frame
is a ``pinned`` frame delivered the way the broker delivers one from another process
(its ``on_message`` callback), which the hub fans out to every viewer.

The reference, in the same run over the same fake transports: the calibration floor's
loop (``bench.refservers floor``: ``for t in transports: t.write(wire)``). What
remains is interpreter work: the part of a fan-out that code changes can remove. The
socket write itself (the larger part on a real server, see docs/benchmarks.md) is not
included. The hub's per-frame work (parsing the frame once, ordering it) is spread
over the viewers and so included, as on a server.

Objects are built in the same interleaved order as on a real server but on a small
heap, so memory-locality effects (cache misses on a 400 MB heap) are understated
unless ``--spread-kb`` puts other objects between the viewers. To measure another
source tree, put it first: ``PYTHONPATH=DIR python -m bench.fanout_micro``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from app import migrate
from app.accounts import User
from app.db import Database
from app.wsproto import DirectWriter
from app.wssinks import DirectSink
from common import keys
from common.times import utcnow
from live.broker import MemoryBroker
from live.frames import Frame
from live.hub import Hub
from live.models import Live, LiveStatus
from live.served import Viewer

HIGH_WATER = 512 * 1024


class FakeTransport:
    __slots__ = ("get_write_buffer_size", "is_closing", "write")

    def __init__(self) -> None:
        self.write = collections.deque[bytes](maxlen=0).append  # C, discards
        self.get_write_buffer_size = int  # C, returns 0
        self.is_closing = bool  # C, returns False


class FakeProto:
    """What ``DirectWriter`` reads of uvicorn's protocol object."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.close_sent = False
        self.disconnected = False


async def one_live(db: Database) -> int:
    """A migrated database with a creator and one started live; the live's id."""
    await migrate.upgrade(db.engine)
    async with db.write() as session:
        creator = User(username="microcreator", password_hash="-", role="creator")
        session.add(creator)
        await session.flush()
        live = Live(creator_id=creator.uid, title="micro", status=LiveStatus.LIVE.value,
                    started_at=utcnow())  # fmt: skip
        session.add(live)
        await session.flush()
        return live.id or 0


async def join_viewers(hub: Hub, live_id: int, args: argparse.Namespace) -> list[FakeTransport]:
    async def snapshot() -> tuple[dict[str, Any], int]:
        return {"live": {"id": live_id}, "pinned": None, "recent_chat": []}, 0

    transports, ballast = [], []
    for _ in range(args.viewers):
        # dicts and lists of small objects: what a connection's other state looks like
        ballast.extend({"k": [i, str(i)]} for i in range(args.spread_kb * 1024 // 400))
        proto = FakeProto()
        transports.append(proto.transport)
        sink = DirectSink(DirectWriter(proto, HIGH_WATER), websocket=None)  # type: ignore[arg-type]
        await hub.join(Viewer(live_id=live_id, user_id=None, sink=sink), None, snapshot)
    hub.ballast = ballast  # type: ignore[attr-defined]  # kept alive with the viewers
    return transports


def time_loops(hub: Hub, live_id: int, transports: list[FakeTransport], args: argparse.Namespace
               ) -> dict[str, list[float]]:  # fmt: skip
    """µs per viewer of each frame, livecart's hub and the bare loop taking turns."""
    channel = keys.live_channel(live_id)

    def livecart(seq: int) -> None:
        hub.broker.on_message(channel, Frame.make("pinned", live_id, {"x": 1}, seq=seq).text)

    def floor(seq: int) -> None:
        wire = Frame.make("pinned", live_id, {"x": 1}, seq=seq).wire
        for t in transports:
            t.write(wire)

    results: dict[str, list[float]] = {"livecart hub": [], "bare loop (ref floor)": []}
    gc.collect()
    gc.disable()  # time the loops, not a collection that happens to land in them
    try:
        for i in range(args.repeat):
            for name, fn in (("livecart hub", livecart), ("bare loop (ref floor)", floor)):
                t0 = time.perf_counter()
                fn(i + 1)
                results[name].append((time.perf_counter() - t0) * 1e6 / args.viewers)
    finally:
        gc.enable()
    return results


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="fanout-micro-") as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'livecart.db'}")
        hub = Hub(MemoryBroker(), db)
        try:
            live_id = await one_live(db)
            await hub.start()
            transports = await join_viewers(hub, live_id, args)
            if len(hub.viewers(live_id)) != args.viewers:
                raise RuntimeError(f"{len(hub.viewers(live_id))} of {args.viewers} joined")
            return time_loops(hub, live_id, transports, args)
        finally:
            await hub.stop()
            await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=30, help="frames timed")
    parser.add_argument(
        "--spread-kb",
        type=int,
        default=0,
        help="allocate this much other data per viewer between viewers, kept alive, to spread "
        "each viewer's objects over a large heap as on a real server (e.g. 28)",
    )
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(
        f"{args.viewers:,} viewers, {args.repeat} frames, {args.spread_kb} KB of other objects "
        "between viewers; Python time per viewer per frame:"
    )
    for name, values in results.items():
        print(f"  {name:<24} median {statistics.median(values):5.2f} µs, min {min(values):5.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
