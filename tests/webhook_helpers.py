"""A real HTTP receiver for webhook tests: records every request and answers as told
(200, an error status, or hanging for a while), in its own thread on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.ws_helpers import Rest, Who, auth


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """``answers``: what to answer next, in order ("ok", an int status, or ("hang", s));
    when empty, 200."""

    port: int = 0
    answers: list[Any] = field(default_factory=list)
    got: queue.Queue[Received] = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def next_answer(self) -> Any:
        with self.lock:
            return self.answers.pop(0) if self.answers else "ok"

    def take(self, within: float = 10.0) -> Received:
        return self.got.get(timeout=within)

    def take_many(self, count: int, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        return [self.got.get(timeout=max(0.01, deadline - time.monotonic()))
                for _ in range(count)]  # fmt: skip

    def nothing_more(self, within: float = 0.5) -> bool:
        try:
            self.got.get(timeout=within)
        except queue.Empty:
            return True
        return False


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answer = receiver.next_answer()
            receiver.got.put(Received(self.path, dict(self.headers.items()), body,
                                      time.monotonic()))  # fmt: skip
            if isinstance(answer, tuple) and answer[0] == "hang":
                time.sleep(answer[1])
                answer = "ok"
            status = 200 if answer == "ok" else int(answer)
            text = b'{"received":true}' if status < 300 else b"receiver error " * 40
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (a timeout)
                self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def receiving(*answers: Any) -> Iterator[Receiver]:
    receiver = Receiver(answers=list(answers))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


async def subscribe(rest: Rest, who: Who, url: str, *events: str) -> dict[str, Any]:
    body = {"url": url, "events": list(events) or ["order.placed", "order.updated",
                                                     "stock.changed", "auction.ended"]}  # fmt: skip
    resp = await rest.http.post("/api/webhooks", json=body, headers=auth(who))
    assert resp.status_code == 201, resp.text
    hook: dict[str, Any] = resp.json()["webhook"]
    return hook


async def settled(rest: Rest, who: Who, hook_id: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries once none is pending (each answer recorded)."""
    for _ in range(200):
        resp = await rest.http.get(f"/api/webhooks/{hook_id}/deliveries", headers=auth(who))
        found: list[dict[str, Any]] = resp.json()["deliveries"]
        if found and all(d["status"] != "pending" for d in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries still pending")
