"""Chat and moderation across two `livecart serve` processes sharing a Redis (issue "Live
chat and moderation", items 2 and 6): a mute or a ban applied through one process holds
on the other, and rate limits and slow mode are shared."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.settings import Settings
from tests.chat_helpers import act, expect, heard, joined, pong, refused, say, ws_for
from tests.live_server import ServerProcess, process_env, with_redis
from tests.ws_helpers import (
    auth,
    close_code,
    next_frame,
    rest_for,
)

pytestmark = pytest.mark.slow

WAIT = 10.0  # child processes on a busy machine


def one_backend(request: pytest.FixtureRequest) -> None:
    """Process tests are slow; what they check (Redis between processes) does not depend
    on the database, so they run on SQLite only."""
    if request.node.callspec.params.get("database_url") == "postgres":
        pytest.skip("multi-process chat tests run on SQLite only")


@contextlib.asynccontextmanager
async def two_processes(
    settings: Settings, redis_url: str, cwd: Path, **env: str
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two `livecart serve` processes on one database and one Redis, with extra env,
    started side by side (each takes seconds to boot)."""
    shared = with_redis(settings, redis_url)
    a, b = (ServerProcess(process_env(shared, **env), cwd) for _ in range(2))
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_mute_and_ban_through_one_process_hold_on_the_other(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    one_backend(request)
    async with (
        two_processes(settings, redis_url, tmp_path) as (a, b),
        rest_for(a.url, 30) as rest_a,
        rest_for(b.url, 30) as rest_b,
    ):
        cara = await rest_a.register("cara", "creator")
        vera = await rest_b.register("vera")
        walt = await rest_b.register("walt")
        live_id = (await rest_a.live(cara, start=True))["id"]

        def on_a(path: str) -> str:
            return f"/api/lives/{live_id}{path}"

        async with (
            ws_for(b, live_id, vera) as vera_b,
            ws_for(a, live_id, vera) as vera_a,
            ws_for(a, live_id, walt) as walt_a,
            ws_for(b, live_id, cara) as cara_b,
        ):
            for ws in (vera_b, vera_a, walt_a, cara_b):
                await joined(ws)

            # Mute through A's REST: vera's socket on B is refused, with the time left.
            resp = await rest_a.http.put(
                on_a("/mutes/vera"), json={"duration_s": 60}, headers=auth(cara)
            )
            assert resp.status_code == 200, resp.text
            await say(vera_b, "hello from B")
            muted = await refused(vera_b, "muted")
            assert 50 < muted["retry_after"] <= 60, muted

            # Unmute with a frame on B: she talks on B, walt hears it on A.
            await act(cara_b, {"type": "unmute", "username": "vera"})
            await say(vera_b, "thanks")
            said = await heard(walt_a, vera, "thanks")
            assert (await heard(vera_a, vera, "thanks")) == said
            await heard(vera_b, vera, "thanks")
            await heard(cara_b, vera, "thanks")

            # A deletion on B reaches A.
            await act(cara_b, {"type": "delete_chat", "id": said["id"]})
            deleted = await expect(walt_a, "chat_deleted")
            assert deleted["data"] == {"id": said["id"]}

            # Ban through A's REST: her sockets on B and on A are told, then closed.
            resp = await rest_a.http.put(on_a("/bans/vera"), headers=auth(cara))
            assert resp.status_code == 204, resp.text
            for ws in (vera_b, vera_a):
                while (frame := await next_frame(ws, WAIT))["type"] == "chat_deleted":
                    pass
                assert frame["type"] == "banned" and frame["seq"] is None, frame
                assert await close_code(ws, WAIT) == 4403
            # Reconnects are refused on both.
            for proc in (a, b):
                async with ws_for(proc, live_id, vera) as again:
                    assert await close_code(again, WAIT) == 4403

            # Unban through B: she is back, on A.
            resp = await rest_b.http.delete(on_a("/bans/vera"), headers=auth(cara))
            assert resp.status_code == 204, resp.text
            async with ws_for(a, live_id, vera) as back:
                await joined(back)
                await say(back, "I'm back")
                await heard(back, vera, "I'm back")
            await heard(walt_a, vera, "I'm back")  # still open

        # The audit log is one, whichever process is asked.
        resp = await rest_b.http.get(on_a("/moderation"), headers=auth(cara))
        actions = [x["action"] for x in reversed(resp.json()["actions"])]
        assert actions == ["mute", "unmute", "delete_chat", "ban", "unban"]


async def test_rate_limit_and_slow_mode_are_shared_across_processes(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    one_backend(request)
    # Burst 2, and refilling slowly enough (1 message per 10 s) not to blur the count.
    env = {"LIVECART_CHAT_BURST": "2", "LIVECART_CHAT_RATE": "0.1"}
    async with (
        two_processes(settings, redis_url, tmp_path, **env) as (a, b),
        rest_for(a.url, 30) as rest,
    ):
        cara = await rest.register("cara", "creator")
        vera = await rest.register("vera")
        walt = await rest.register("walt")
        live_id = (await rest.live(cara, start=True))["id"]
        async with (
            ws_for(a, live_id, vera) as vera_a,
            ws_for(b, live_id, vera) as vera_b,
            ws_for(a, live_id, walt) as walt_a,
            ws_for(b, live_id, walt) as walt_b,
            ws_for(b, live_id, cara) as cara_b,
        ):
            everyone = (vera_a, vera_b, walt_a, walt_b, cara_b)
            for ws in everyone:
                await joined(ws)

            # One bucket for vera, whichever process her messages go through.
            await say(vera_a, "one")
            for ws in everyone:
                await heard(ws, vera, "one")
            await say(vera_b, "two")
            for ws in everyone:
                await heard(ws, vera, "two")
            await say(vera_a, "three")
            limited = await refused(vera_a, "rate_limited")
            assert 5 < limited["retry_after"] <= 10, limited
            await say(vera_b, "four")
            limited = await refused(vera_b, "rate_limited")
            assert 5 < limited["retry_after"] <= 10, limited

            # Slow mode set on B holds for a message sent on B after one sent on A.
            seen = await act(cara_b, {"type": "slow_mode", "seconds": 60})
            assert [(f["type"], f["data"]) for f in seen] == [("slow_mode", {"seconds": 60})]
            for ws in (vera_a, vera_b, walt_a, walt_b):
                await expect(ws, "slow_mode")
            await say(walt_a, "walt on A")
            for ws in everyone:
                await heard(ws, walt, "walt on A")
            await say(walt_b, "walt on B")
            slow = await refused(walt_b, "slow_mode")
            assert 50 < slow["retry_after"] <= 60, slow
            for ws in everyone:
                await pong(ws)  # the refused messages reached nobody

        history = (await rest.http.get(f"/api/lives/{live_id}/chat")).json()["messages"]
        texts = [m["text"] for m in history]
        assert texts == ["one", "two", "walt on A"]
