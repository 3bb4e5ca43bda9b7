"""Several `livecart serve` processes sharing a live through Redis, and Redis going away
and coming back mid-live (contract: WebSocket; the database is the log)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.settings import Settings
from live.redis_broker import PRESENCE_STALE_MS
from tests.live_server import processes, with_redis
from tests.services import RedisServer, redis_db
from tests.ws_helpers import (
    Frame,
    auth,
    frames,
    next_frame,
    rest_for,
    snapshot,
    until,
    viewers_count,
)

pytestmark = pytest.mark.slow


def one_backend(request: pytest.FixtureRequest) -> None:
    """Process tests are slow; PostgreSQL adds nothing to what they check but its
    cross-process locking, which the deal tests in test_pins cover in-process."""
    if request.node.callspec.params.get("database_url") == "postgres":
        pytest.skip("multi-process tests run on SQLite only (see one_backend)")


async def test_two_processes_share_a_live_through_redis(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    one_backend(request)
    shared = replace(with_redis(settings, redis_db(redis_url, 7)), presence_interval_s=0.2)
    with processes(shared, tmp_path) as (a, b):
        async with rest_for(a.url, 30) as rest_a, rest_for(b.url, 30) as rest_b:
            owner = await rest_a.register("owner", "creator")
            mug = await rest_a.product(owner, title="Mug")
            cap = await rest_b.product(owner, title="Cap")  # either process answers
            live = await rest_a.live(owner, start=True)
            async with (
                connect(a.ws_url(live["id"])) as on_a,
                connect(b.ws_url(live["id"])) as on_b,
            ):
                snap_a, snap_b = await snapshot(on_a), await snapshot(on_b)
                assert snap_a["data"]["seq"] == snap_b["data"]["seq"] == 1

                # Viewers are counted over both processes, on both.
                await viewers_count(on_a, 2)
                await viewers_count(on_b, 2)
                stats = await rest_b.http.get(f"/api/lives/{live['id']}/stats", headers=auth(owner))
                assert stats.json()["viewers"] == 2
                assert (await rest_a.get_live(live["id"]))["viewers"] == 2

                await rest_a.pinned(owner, live["id"], mug["id"])  # through A
                await rest_b.pinned(owner, live["id"], cap["id"])  # through B
                got_a, got_b = await asyncio.gather(pinned_pair(on_a), pinned_pair(on_b))
                assert got_a == got_b  # the same frames, the same seq
                assert [f["seq"] for f in got_a] == [2, 3]
                assert got_b[0]["data"]["product"]["id"] == mug["id"]

                # Pins racing through both processes: one order, seen alike everywhere.
                await asyncio.gather(
                    *(
                        (rest_a if i % 2 else rest_b).pinned(
                            owner, live["id"], (mug if i % 3 else cap)["id"]
                        )
                        for i in range(12)
                    )
                )
                raced_a, raced_b = await asyncio.gather(
                    frames(on_a, 12, within=10), frames(on_b, 12, within=10)
                )
                assert raced_a == raced_b
                assert [f["seq"] for f in raced_a] == list(range(4, 16))
                assert raced_a == (await rest_b.events(live["id"]))[3:]

            # Both gone: the count drops on every process — at the latest once a
            # process's last report goes stale (if its final "0" was lost), plus a tick.
            async with connect(a.ws_url(live["id"])) as again:
                await snapshot(again)
                await viewers_count(again, 1, within=PRESENCE_STALE_MS / 1000 + 7)


async def pinned_pair(ws: ClientConnection) -> list[Frame]:
    return [await next_frame(ws), await next_frame(ws)]


async def test_redis_restart_mid_live_loses_nothing(
    request: pytest.FixtureRequest, settings: Settings, own_redis: RedisServer, tmp_path: Path
) -> None:
    one_backend(request)
    shared = replace(with_redis(settings, own_redis.url), presence_interval_s=0.2)
    with processes(shared, tmp_path) as (a, b):
        async with rest_for(a.url, 30) as rest:
            owner = await rest.register("owner", "creator")
            products = [await rest.product(owner, title=f"P{i}") for i in range(4)]
            live = await rest.live(owner, start=True)
            async with connect(b.ws_url(live["id"])) as viewer:
                await snapshot(viewer)
                async with connect(b.ws_url(live["id"])) as leaver:
                    await snapshot(leaver)
                    await rest.pinned(owner, live["id"], products[0]["id"])  # seq 2
                    assert (await next_frame(viewer))["seq"] == 2
                    assert (await next_frame(leaver))["seq"] == 2
                # ``leaver`` disconnected having seen seq 2.

                own_redis.stop()
                # The database is the log: pinning still works without Redis.
                resp = await rest.pin(owner, live["id"], products[1]["id"])  # seq 3
                assert resp.status_code == 200, resp.text
                own_redis.start()  # same port

                # B reconnects and refills what it missed from the log.
                missed = await next_frame(viewer, within=15)
                assert (missed["type"], missed["seq"]) == ("pinned", 3)
                assert missed["data"]["product"]["id"] == products[1]["id"]

                await rest.pinned(owner, live["id"], products[2]["id"])  # seq 4
                after = await next_frame(viewer, within=5)
                assert (after["type"], after["seq"]) == ("pinned", 4)

                async with connect(b.ws_url(live["id"], after=2)) as back:
                    got = await until(back, "resumed")
                    assert [f["seq"] for f in got] == [3, 4, None]
                    assert got[-1]["data"] == {"from": 2, "to": 4}
                    await rest.pinned(owner, live["id"], products[3]["id"])  # seq 5
                    assert (await next_frame(back, within=10))["seq"] == 5
                assert (await next_frame(viewer, within=10))["seq"] == 5
