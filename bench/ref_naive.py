"""Reference (b): the naive Starlette fan-out, ``for ws in viewers: await ws.send_text(frame)``.

    python bench/ref_naive.py --port 8766

A Starlette app under uvicorn with its default WebSocket implementation
(``--ws auto``, which is websockets-sansio when ``websockets`` is installed) and
per-message deflate off. Any path but ``/control`` is a viewer; a ``pin``
text message on ``/control`` builds one frame shaped like livecart's
``pinned`` frame and awaits ``send_text`` to every viewer in turn.
"""

from __future__ import annotations

import argparse

import uvicorn
from refframes import pinned_frame, snapshot_frame
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

viewers: set[WebSocket] = set()


async def viewer(ws: WebSocket) -> None:
    await ws.accept()
    viewers.add(ws)
    try:
        await ws.send_text(snapshot_frame(len(viewers)))
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        viewers.discard(ws)


async def control(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "pin":
            frame = pinned_frame()
            for v in list(viewers):
                try:
                    await v.send_text(frame)
                except Exception:
                    viewers.discard(v)
            await ws.send_text(f"ok {len(viewers)}")


app = Starlette(
    routes=[WebSocketRoute("/control", control), WebSocketRoute("/{path:path}", viewer)]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, ws="auto", ws_per_message_deflate=False)
