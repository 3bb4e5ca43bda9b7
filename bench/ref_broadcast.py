"""Reference (a): a minimal fan-out server on the ``websockets`` library and ``broadcast()``.

    python bench/ref_broadcast.py --port 8765 [--loop uvloop|asyncio] [--backlog 2048]

Any path but ``/control`` is a viewer: it is added to a set and sent a small
snapshot-like frame. A text message ``pin`` on ``/control`` builds one frame
shaped like livecart's ``pinned`` frame (``ts`` = now in ms) and calls
``broadcast(viewers, frame)``, then answers ``ok <viewers>``.

No compression. The event loop is uvloop by default, as under uvicorn (which
livecart runs on), so the comparison is between the fan-out code paths rather
than between event loops. The listen backlog is uvicorn's default (2048;
``bench/fanout.py`` passes uvicorn's actual default), so a connect storm meets
the same accept queue as it does under livecart. Otherwise the ``websockets``
defaults apply (e.g. a 10 s ``open_timeout`` for the opening handshake).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

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


async def main(host: str, port: int, backlog: int = 2048) -> None:
    # backlog: asyncio's default (100) would drop SYNs under a connect storm;
    # uvicorn listens with 2048 by default, so give this server the same.
    async with serve(handler, host, port, compression=None, backlog=backlog) as server:
        # SIGINT/SIGTERM: close the viewers and return (no KeyboardInterrupt traceback).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--backlog", type=int, default=2048, help="listen backlog")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.host, args.port, args.backlog))
    else:
        asyncio.run(main(args.host, args.port, args.backlog))
