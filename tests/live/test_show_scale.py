"""A show at scale over real sockets (contract: WebSocket): a storm of joins, a busy
database, socket caps, the plain ``uvicorn app.main:app`` command, bans.

Overload is answered with close code 1013 (try again later) and nothing else: never
an HTTP 500, a 1011 or a traceback in the server's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.asyncio.client import ClientConnection, connect

from app.settings import Settings
from live import close_codes
from tests.live_server import Listening, LiveServer, process_env, serve, spawned, uvicorn_args
from tests.services import free_port
from tests.ws_helpers import (
    auth,
    close_code,
    next_frame,
    recv,
    rest_for,
    send,
    snapshot,
    until,
    viewers_count,
)

# Simultaneous anonymous joins in the storm tests (all opened at once, no client-side cap).
BURST = 2_000
STORM_TIMEOUT = 90.0  # a generous bound for a loaded 2-core CI box; not a performance claim


APP_TOO_BIG_REASON = "frame over 4 KiB"  # app/routes/ws.py, when a frame gets past the server


# ---- the server's log


class ServerLog(logging.Handler):
    """Records WARNING and above from the app, uvicorn, asyncio and SQLAlchemy."""

    SOURCES = ("livecart", "uvicorn", "asyncio", "sqlalchemy", "starlette", "app", "live")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.SOURCES:
            self.records.append(record)

    def problems(self) -> list[str]:
        """Errors and anything logged with a traceback."""
        return [
            f"{r.levelname} {r.name}: {r.getMessage()}"
            for r in self.records
            if r.levelno >= logging.ERROR or r.exc_info is not None
        ]

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextlib.contextmanager
def server_log() -> Iterator[ServerLog]:
    """Attach after the server started: uvicorn (re)configures its loggers at startup."""
    handler = ServerLog()
    # uvicorn's loggers do not propagate to the root logger: listen on both.
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@contextlib.asynccontextmanager
async def serve_logged(settings: Settings) -> AsyncIterator[tuple[LiveServer, ServerLog]]:
    async with serve(settings) as live_server:
        with server_log() as log:
            yield live_server, log


# ---- plain `uvicorn app.main:app` in a child process


@dataclass
class PlainUvicorn(Listening):
    port: int
    proc: subprocess.Popen[bytes]
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def problems(self) -> list[str]:
        lines = self.log().splitlines()
        return [line for line in lines if "Traceback" in line or line.startswith("ERROR")]


@contextlib.contextmanager
def plain_uvicorn(settings: Settings, tmp_path: Path, **env: str) -> Iterator[PlainUvicorn]:
    """``python -m uvicorn app.main:app --port P``: no other flag, settings from the
    environment; stderr kept in a file."""
    port = free_port()
    stderr = tmp_path / f"uvicorn-{port}.stderr"
    with spawned(
        uvicorn_args(port), tmp_path, process_env(settings, **env), port, stderr=stderr
    ) as proc:
        yield PlainUvicorn(port, proc, stderr)


# ---- the storm


async def storm(url: str, count: int, stack: contextlib.AsyncExitStack) -> list[ClientConnection]:
    """``count`` sockets opened all at once; each one's first frame must be a snapshot."""

    async def one() -> ClientConnection:
        return await stack.enter_async_context(
            connect(url, open_timeout=STORM_TIMEOUT, ping_interval=None, close_timeout=30)
        )

    sockets = await asyncio.gather(*(one() for _ in range(count)))
    firsts = await asyncio.gather(*(recv(ws, STORM_TIMEOUT) for ws in sockets))
    kinds = {first["type"] for first in firsts}
    assert kinds == {"snapshot"}, kinds
    assert {first["data"]["seq"] for first in firsts} == {firsts[0]["data"]["seq"]}
    return list(sockets)


async def all_get_the_pin(sockets: list[ClientConnection], pinned: dict[str, Any]) -> None:
    got = await asyncio.gather(*(next_frame(ws, STORM_TIMEOUT) for ws in sockets))
    assert {(f["type"], f["seq"]) for f in got} == {("pinned", got[0]["seq"])}
    assert all(f["data"] == pinned for f in got)


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def show_storm(base_url: str, ws_url: Any) -> None:
    async with rest_for(base_url, 30) as rest:
        owner = await rest.register("cara", "creator")
        product = await rest.product(owner, title="Lamp")
        live = await rest.live(owner, start=True)
        async with contextlib.AsyncExitStack() as stack:
            sockets = await storm(ws_url(live["id"]), BURST, stack)
            pinned = await rest.pinned(owner, live["id"], product["id"])
            await all_get_the_pin(sockets, pinned)
            # Still one socket each, all counted.
            stats = await rest.http.get(f"/api/lives/{live['id']}/stats", headers=auth(owner))
            assert stats.json()["viewers"] == BURST
            await close_all(sockets)


async def test_storm_of_joins_in_process(settings: Settings) -> None:
    """Every viewer of a storm gets its snapshot first, then the pin."""
    storm_settings = replace(settings, max_sockets_per_address=0, presence_interval_s=1.0)
    async with serve_logged(storm_settings) as (server, log):
        await show_storm(server.url, server.ws_url)
        assert server.state.admission.joining == 0
    assert log.problems() == []
    assert not [m for m in log.messages() if "refused" in m]


@pytest.mark.slow
@pytest.mark.one_database  # the in-process storm above runs on both
async def test_storm_of_joins_under_plain_uvicorn(settings: Settings, tmp_path: Path) -> None:
    with plain_uvicorn(settings, tmp_path, LIVECART_MAX_SOCKETS_PER_ADDRESS="0") as server:
        await show_storm(server.url, server.ws_url)
    log = server.log()
    assert server.problems() == [], log[-3000:]
    assert "Traceback" not in log
    assert "refused" not in log


# ---- a busy database


async def hold_every_connection(server: LiveServer) -> list[AsyncConnection]:
    """Check out all the connections the server's pool can give (size + overflow)."""
    engine = server.state.db.engine
    pool: Any = engine.pool
    total = pool.size() + pool._max_overflow
    return [await engine.connect() for _ in range(total)]


async def test_exhausted_pool_closes_new_joins_1013_then_recovers(settings: Settings) -> None:
    busy = replace(settings, join_timeout_s=1.0, presence_interval_s=0.2)
    async with serve_logged(busy) as (server, log), rest_for(server.url, 30) as rest:
        owner = await rest.register("cara", "creator")
        served = await rest.live(owner, start=True)
        cold = await rest.live(owner, start=True)  # never served by this process yet
        async with connect(server.ws_url(served["id"])) as watcher:
            await snapshot(watcher)
            held = await hold_every_connection(server)
            try:
                # A live this process has never served needs the database: 1013.
                for token in (None, owner["token"]):
                    async with connect(server.ws_url(cold["id"], token=token)) as ws:
                        assert await close_code(ws, within=10) == close_codes.TRY_AGAIN_LATER
                        assert ws.close_reason == "server busy, try again later"
                # A live served already joins from memory, database or not.
                async with connect(server.ws_url(served["id"])) as ws:
                    snap = await snapshot(ws)
                    assert snap["data"]["live"]["id"] == served["id"]
            finally:
                for conn in held:
                    await conn.close()
            async with connect(server.ws_url(cold["id"])) as ws:
                snap = await snapshot(ws)
                assert snap["data"]["live"]["id"] == cold["id"]
                await send(ws, {"type": "ping"})
                assert (await next_frame(ws))["type"] == "pong"
        assert server.state.admission.joining == 0
    assert log.problems() == []
    assert any("join refused" in m for m in log.messages())


async def test_a_frame_that_finds_the_database_busy_gets_a_busy_error(settings: Settings) -> None:
    """A chat frame waiting past the pool's timeout is answered ``busy`` on its socket,
    which stays open; no traceback (it was ``internal_error`` with one)."""
    async with serve_logged(settings) as (server, log), rest_for(server.url, 30) as rest:
        owner = await rest.register("cara", "creator")
        live = await rest.live(owner, start=True)
        async with connect(server.ws_url(live["id"], token=owner["token"])) as ws:
            await snapshot(ws)
            pool: Any = server.state.db.engine.pool
            pool._timeout = 0.2  # the production wait is 10 s
            held = await hold_every_connection(server)
            try:
                await send(ws, {"type": "chat", "text": "anyone there?"})
                error = await next_frame(ws, within=10)
            finally:
                for conn in held:
                    await conn.close()
            assert (error["type"], error["data"]["code"]) == ("error", "busy")
            assert error["data"]["retry_after"] == 1
            await send(ws, {"type": "ping"})
            assert (await next_frame(ws))["type"] == "pong"
    assert log.problems() == []


# ---- socket caps


async def test_per_address_cap_refuses_the_third_socket_1013(settings: Settings) -> None:
    capped = replace(settings, max_sockets_per_address=2, presence_interval_s=0.1)
    async with serve_logged(capped) as (server, log), rest_for(server.url, 30) as rest:
        owner = await rest.register("cara", "creator")
        live = await rest.live(owner, start=True)
        url = server.ws_url(live["id"])
        async with connect(url) as first, connect(url) as second:
            await snapshot(first)
            await snapshot(second)
            for token in (None, owner["token"]):
                async with connect(server.ws_url(live["id"], token=token)) as third:
                    assert await close_code(third) == close_codes.TRY_AGAIN_LATER
            await first.close()
            await viewers_count(second, 1)  # the server let ``first`` go
            async with connect(url) as again:
                await snapshot(again)
                async with connect(url) as over:
                    assert await close_code(over) == close_codes.TRY_AGAIN_LATER
    assert log.problems() == []


async def test_per_user_cap_refuses_a_second_socket_of_one_account(settings: Settings) -> None:
    capped = replace(settings, max_sockets_per_user=1, presence_interval_s=0.1)
    async with serve_logged(capped) as (server, log), rest_for(server.url, 30) as rest:
        owner = await rest.register("cara", "creator")
        fan = await rest.register("fan")
        other = await rest.register("olga")
        live = await rest.live(owner, start=True)
        second_live = await rest.live(owner, start=True)
        url = server.ws_url
        async with connect(url(live["id"], token=fan["token"])) as fan_ws:
            await snapshot(fan_ws)
            # Another socket of the same account, on this live or another: refused.
            for live_id in (live["id"], second_live["id"]):
                async with connect(url(live_id, token=fan["token"])) as twice:
                    assert await close_code(twice) == close_codes.TRY_AGAIN_LATER
            # Another account, and anonymous viewers, are fine.
            async with connect(url(live["id"], token=other["token"])) as olga:
                await snapshot(olga)
                async with connect(url(live["id"])) as anon:
                    await snapshot(anon)
                    await viewers_count(olga, 3)
                    await fan_ws.close()
                    await viewers_count(olga, 2)  # the server let the fan's socket go
                    async with connect(url(live["id"], token=fan["token"])) as back:
                        await snapshot(back)
    assert log.problems() == []


# ---- plain uvicorn: the 4 KiB frame cap


@pytest.mark.slow
async def test_plain_uvicorn_caps_client_frames_at_4_kib(
    settings: Settings, tmp_path: Path
) -> None:
    with plain_uvicorn(settings, tmp_path) as server:
        async with rest_for(server.url, 30) as rest:
            owner = await rest.register("cara", "creator")
            live = await rest.live(owner, start=True)
        async with connect(server.ws_url(live["id"])) as ws:
            # The app adopted the server: no per-message deflate (pre-encoded frames).
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await snapshot(ws)
            # Under the cap: answered (an error frame for bad JSON, a pong for a ping),
            # and the socket stays open.
            await ws.send("{" + "x" * 3999)
            error = await next_frame(ws)
            assert (error["type"], error["data"]["code"]) == ("error", "invalid_json")
            padded = json.dumps({"type": "ping", "pad": "y" * 3960})
            assert len(padded) <= 4000
            await ws.send(padded)
            assert (await next_frame(ws))["type"] == "pong"
            await ws.send(json.dumps({"type": "ping", "pad": "z" * 5000}))
            assert await close_code(ws) == close_codes.TOO_BIG
            # Refused by the protocol before the app read it (the app's own check, which
            # would come only after uvicorn buffered up to 16 MiB, says "frame over 4 KiB").
            assert ws.close_reason != APP_TOO_BIG_REASON, ws.close_reason
        async with connect(server.ws_url(live["id"])) as ws:
            await snapshot(ws)
            await ws.send(b"\x00" * 5000)  # binary too
            assert await close_code(ws) == close_codes.TOO_BIG
    assert server.problems() == [], server.log()[-3000:]


# ---- bans


async def test_a_banned_user_new_socket_gets_4403(settings: Settings) -> None:
    banning = replace(settings, presence_interval_s=0.1)
    async with serve_logged(banning) as (server, log), rest_for(server.url, 30) as rest:
        owner = await rest.register("cara", "creator")
        fan = await rest.register("fan")
        live = await rest.live(owner, start=True)
        cold = await rest.live(owner, start=True)
        url = server.ws_url

        async def ban(live_id: int) -> None:
            resp = await rest.http.put(f"/api/lives/{live_id}/bans/fan", headers=auth(owner))
            assert resp.status_code == 204, resp.text

        async with connect(url(live["id"])) as watcher:
            await snapshot(watcher)
            async with connect(url(live["id"], token=fan["token"])) as fan_ws:
                await snapshot(fan_ws)
                await ban(live["id"])
                got = await until(fan_ws, "banned")
                assert got[-1]["type"] == "banned"
                assert await close_code(fan_ws) == close_codes.BANNED
            # The live is served here (its roster in memory): refused.
            async with connect(url(live["id"], token=fan["token"])) as again:
                assert await close_code(again) == close_codes.BANNED
            # Resuming does not get around it either.
            async with connect(url(live["id"], token=fan["token"], after=0)) as resume:
                assert await close_code(resume) == close_codes.BANNED
            # Others are unaffected; anonymous sockets are not the banned account.
            async with connect(url(live["id"], token=owner["token"])) as studio:
                await snapshot(studio)

        # A live this process does not serve: its roster comes from the database.
        await ban(cold["id"])
        async with connect(url(cold["id"], token=fan["token"])) as ws:
            assert await close_code(ws) == close_codes.BANNED

        # Lifted: the fan gets back in.
        resp = await rest.http.delete(f"/api/lives/{live['id']}/bans/fan", headers=auth(owner))
        assert resp.status_code == 204, resp.text
        async with connect(url(live["id"], token=fan["token"])) as ws:
            await snapshot(ws)
    assert log.problems() == []
