"""Reference (a): a minimal fan-out server on the ``websockets`` library and ``broadcast()``.

    python bench/ref_broadcast.py --port 8765 [--loop uvloop|asyncio]

Any path but ``/control`` is a viewer: it is added to a set and sent a small
snapshot-like frame. A text message ``pin`` on ``/control`` builds one frame
shaped like livecart's ``pinned`` frame (``ts`` = now in ms) and calls
``broadcast(viewers, frame)``, then answers ``ok <viewers>``.

No compression. The event loop is uvloop by default, as under uvicorn (which
livecart runs on), so the comparison is between the fan-out code paths rather
than between event loops.
"""

from __future__ import annotations

import argparse
import asyncio

from refframes import pinned_frame, snapshot_frame
from websockets.asyncio.server import ServerConnection, broadcast, serve

viewers: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/control":
        async for message in ws:
            if message == "pin":
                broadcast(viewers, pinned_frame())
                await ws.send(f"ok {len(viewers)}")
        return
    viewers.add(ws)
    try:
        await ws.send(snapshot_frame(len(viewers)))
        async for _ in ws:  # viewers do not talk; keep reading until they close
            pass
    finally:
        viewers.discard(ws)


async def main(host: str, port: int) -> None:
    # backlog: asyncio's default (100) would drop SYNs under 500 concurrent connects;
    # uvicorn listens with 2048, so give this server the same.
    async with serve(handler, host, port, compression=None, backlog=2048) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.host, args.port))
    else:
        asyncio.run(main(args.host, args.port))
