"""Tokens out of URLs and out of logs (issue #11, finding 6; contract: WebSocket).

- A socket signs in with the subprotocols ``livecart`` + ``livecart.token.<TOKEN>``;
  the server picks ``livecart`` (never the token one), prefers it over ``?token=``,
  closes a bad one with 4401; ``?token=`` keeps working. On livecart's own protocol
  (direct writes) and on uvicorn's others (queued sends).
- No token reaches any log line: real ``livecart serve`` and plain ``uvicorn
  app.main:app`` processes with the access log on, their stdout and stderr read.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from uvicorn.logging import AccessFormatter
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app import logredact
from app.server import WS_PROTOCOL
from app.settings import Settings
from live import close_codes
from tests.http_helpers import http_client
from tests.live_server import LiveServer, process_env, serve
from tests.services import free_port, wait_for_port
from tests.ws_helpers import Frame, Rest, Who, close_code, next_frame, send, snapshot, until

LIVECART = Subprotocol("livecart")
# livecart's direct-write protocol, and uvicorn's two others (the queued-send fallback).
WS_IMPLS = [WS_PROTOCOL, "websockets-sansio"]

# Where a token may appear is decided before any query.
pytestmark = pytest.mark.one_database


def offer(token: str | None) -> list[Subprotocol]:
    return [LIVECART] + ([Subprotocol(f"livecart.token.{token}")] if token else [])


@dataclass
class Show:
    server: LiveServer
    vera: Who  # a signed-up viewer
    live_id: int  # a started live

    def url(self, **query: str) -> str:
        return self.server.ws_url(self.live_id, **query)


@contextlib.asynccontextmanager
async def show(settings: Settings, ws: str = WS_PROTOCOL) -> AsyncIterator[Show]:
    async with serve(settings, ws=ws) as server, http_client(server.url) as http:
        rest = Rest(http)
        creator = await rest.register("cora", "creator")
        live = await rest.live(creator, start=True)
        yield Show(server, await rest.register("vera"), live["id"])


async def chat_as(ws: ClientConnection, text: str) -> Frame:
    """Send a chat line; the frame the server answers with (``chat`` or ``error``)."""
    await send(ws, {"type": "chat", "text": text})
    frame = await next_frame(ws)
    assert frame["type"] in {"chat", "error"}, frame
    return frame


def test_tokens_are_valid_subprotocol_names(settings: Settings) -> None:
    """RFC 6455 subprotocols are RFC 7230 tokens: letters, digits and !#$%&'*+-.^_`|~."""
    from app.tokens import TokenSigner

    tchar = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    signer = TokenSigner(settings.secret_key, 3600)
    for uid in (1, 42, 2**40):
        assert set(signer.issue(uid)) <= tchar


@pytest.mark.parametrize("ws_impl", WS_IMPLS)
async def test_token_in_a_subprotocol_signs_in_and_is_never_echoed(
    settings: Settings, ws_impl: str
) -> None:
    async with show(settings, ws_impl) as live:
        assert "token" not in live.url()
        async with connect(live.url(), subprotocols=offer(live.vera["token"])) as ws:
            assert ws.subprotocol == "livecart"
            assert ws.response is not None
            assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == ["livecart"]
            await snapshot(ws)
            chat = await chat_as(ws, "hello from the header")
            assert chat["type"] == "chat", chat
            assert chat["data"]["user"]["username"] == "vera"
            assert chat["data"]["text"] == "hello from the header"


@pytest.mark.parametrize("ws_impl", [WS_PROTOCOL, "websockets-sansio"])
async def test_a_bad_token_in_a_subprotocol_closes_4401(settings: Settings, ws_impl: str) -> None:
    async with show(settings, ws_impl) as live:
        good = live.vera["token"]
        forged = good[:-2] + ("BB" if good.endswith("AA") else "AA")
        for bad in ("not-a-token", forged):
            async with connect(live.url(), subprotocols=offer(bad)) as ws:
                assert ws.subprotocol == "livecart"
                assert await close_code(ws) == close_codes.BAD_TOKEN


async def test_the_subprotocol_token_wins_over_the_query_token(settings: Settings) -> None:
    async with show(settings) as live:
        header_token = offer(live.vera["token"])
        async with connect(live.url(token="not-a-token"), subprotocols=header_token) as ws:
            await snapshot(ws)
            assert (await chat_as(ws, "header first"))["type"] == "chat"
        # And a bad header token is not rescued by a good query token.
        query_token = live.url(token=live.vera["token"])
        async with connect(query_token, subprotocols=offer("not-a-token")) as ws:
            assert await close_code(ws) == close_codes.BAD_TOKEN


async def test_anonymous_offering_only_livecart_watches(settings: Settings) -> None:
    async with show(settings) as live, connect(live.url(), subprotocols=offer(None)) as ws:
        assert ws.subprotocol == "livecart"
        await snapshot(ws)
        refused = await chat_as(ws, "hi, I am nobody")
        assert refused["data"]["code"] == "sign_in_required", refused
        await send(ws, {"type": "ping"})
        assert (await until(ws, "pong"))[-1]["type"] == "pong"  # still open


async def test_query_token_still_signs_in_without_subprotocols(settings: Settings) -> None:
    async with show(settings) as live, connect(live.url(token=live.vera["token"])) as ws:
        assert ws.subprotocol is None
        await snapshot(ws)
        assert (await chat_as(ws, "old client"))["type"] == "chat"


# ---- the filter itself


def _logged(logger: logging.Logger, formatter: logging.Formatter, *call: object) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(logredact.FILTER)
    logger.addHandler(handler)
    try:
        logger.info(*call)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_redaction_keeps_uvicorn_access_lines_whole() -> None:
    logger = logging.getLogger("tests.redact")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    access = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    line = _logged(logger, access, '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET",
                   "/api/lives?a=1&token=abc.DEF-_9&b=2", "1.1", 200)  # fmt: skip
    assert line == '1.2.3.4:5 - "GET /api/lives?a=1&token=[redacted]&b=2 HTTP/1.1" 200 OK\n'
    plain = logging.Formatter("%(message)s")
    assert _logged(logger, plain, "token=%s and more", "s3cret") == "token=[redacted] and more\n"
    assert _logged(logger, plain, "Authorization: Bearer %s", "s3cret") == (
        "Authorization: Bearer [redacted]\n"
    )
    assert _logged(logger, plain, "%(p)s", {"p": "/ws?token=s3cret"}) == "/ws?token=[redacted]\n"
    assert _logged(logger, plain, "nothing %s here", "secret") == "nothing secret here\n"


# ---- real server processes, access log on


@contextlib.contextmanager
def logged_process(args: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[Path]:
    """A server process with stdout and stderr in one file; the file, read once it exits."""
    output = cwd / f"server-{port}.log"
    with output.open("wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield output
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # a clean exit flushes every stream
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


SERVERS = {
    "livecart serve": ["-m", "app.cli", "serve", "--port"],
    "plain uvicorn": ["-m", "uvicorn", "app.main:app", "--port"],
    "plain uvicorn --ws websockets-sansio": [
        *("-m", "uvicorn", "app.main:app", "--ws", "websockets-sansio", "--port"),
    ],
}


async def requests_with_tokens(base_url: str) -> str:
    """HTTP requests and sockets carrying a real token in the URL; the token."""
    ws_base = base_url.replace("http", "ws", 1)
    async with http_client(base_url, timeout=30) as http:
        rest = Rest(http)
        creator = await rest.register("cora", "creator")
        live = await rest.live(creator, start=True)
        token: str = creator["token"]
        for path in (f"/api/lives?token={token}", f"/api/me?x=1&token={token}&y=2"):
            assert (await http.get(path)).status_code < 500
    async with connect(f"{ws_base}/ws/lives/{live['id']}?token={token}&after=0") as ws:
        await until(ws, "resumed")
    async with connect(f"{ws_base}/ws/lives/{live['id']}?token={token}x") as ws:
        assert await close_code(ws) == close_codes.BAD_TOKEN
    async with connect(f"{ws_base}/ws/lives/{live['id']}", subprotocols=offer(token)) as ws:
        await snapshot(ws)
    return token


@pytest.mark.slow
@pytest.mark.parametrize("server", list(SERVERS))
async def test_no_token_reaches_the_server_output(
    settings: Settings, tmp_path: Path, server: str
) -> None:
    port = free_port()
    args = [sys.executable, *SERVERS[server], str(port)]
    env = process_env(settings, LIVECART_ACCESS_LOG="1")
    with logged_process(args, env, tmp_path, port) as output:
        token = await requests_with_tokens(f"http://127.0.0.1:{port}")
    log = output.read_text(errors="replace")
    assert token not in log
    assert token[:20] not in log  # nor a prefix of it
    # The lines are there, with the token hidden: the access log and the socket lines.
    assert '"GET /api/lives?token=[redacted] HTTP/1.1" 200' in log, log
    assert "/api/me?x=1&token=[redacted]&y=2" in log, log
    assert "WebSocket /ws/lives/1?token=[redacted]&after=0" in log, log
    assert "Traceback" not in log, log
