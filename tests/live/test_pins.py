"""Pins, the bag, flash deals and stats, by REST and by socket frame (contract: Lives).

Rules: the live's creator, its moderators and admins pin and unpin, only while
live, only the creator's own products; one pin at a time; every pinned product
lands in the bag; a deal ends exactly once (expired, sold out or unpinned).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.accounts import Role
from app.settings import Settings
from tests.http_helpers import Api, http_client
from tests.live_server import LiveServer, serve, with_redis
from tests.ws_helpers import (
    Frame,
    Rest,
    Who,
    auth,
    frames,
    make_user,
    next_frame,
    send,
    snapshot,
    until,
    viewers_count,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
DEAL_KEYS = {"price_cents", "quantity", "remaining", "per_buyer_limit", "ends_at"}


def parse_utc(value: str) -> datetime:
    assert ISO_UTC.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def error_code(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    code: str = resp.json()["error"]["code"]
    return code


# ---- REST, through the ASGI app


class World:
    """A running live of ``owner`` with a product, and callers of every kind."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.owner = api.register("owner", "creator")
        self.users: dict[str, Who | None] = {
            "anonymous": None,
            "viewer": api.register("viewer"),
            "other_creator": api.register("other", "creator"),
            "moderator": api.register("moderator"),
            "staff": api.make_user("staff", Role.STAFF),
            "admin": api.make_user("admin", Role.ADMIN),
            "owner": self.owner,
        }
        self.products = [api.product(self.owner, title=f"P{i}") for i in range(3)]
        self.foreign = api.product(self.users["other_creator"] or {}, title="Theirs")
        self.live = api.live(self.owner)
        self.start(self.live)
        resp = api.client.put(
            f"/api/lives/{self.live['id']}/moderators/moderator", headers=api.auth(self.owner)
        )
        assert resp.status_code == 200, resp.text

    def start(self, live: dict[str, Any]) -> None:
        resp = self.api.client.post(
            f"/api/lives/{live['id']}/start", headers=self.api.auth(self.owner)
        )
        assert resp.status_code == 200, resp.text

    def pin(self, who: Who | None, product_id: Any, live_id: Any = None, **deal: Any) -> Any:
        body: dict[str, Any] = {"product_id": product_id}
        if deal:
            body["deal"] = deal
        return self.api.client.post(
            f"/api/lives/{live_id or self.live['id']}/pin", json=body, headers=self.api.auth(who)
        )

    def unpin(self, who: Who | None, live_id: Any = None) -> Any:
        return self.api.client.delete(
            f"/api/lives/{live_id or self.live['id']}/pin", headers=self.api.auth(who)
        )

    def get_live(self, live_id: Any = None) -> dict[str, Any]:
        resp = self.api.client.get(f"/api/lives/{live_id or self.live['id']}")
        assert resp.status_code == 200, resp.text
        live: dict[str, Any] = resp.json()["live"]
        return live

    def bag(self, live_id: Any = None) -> list[int]:
        resp = self.api.client.get(f"/api/lives/{live_id or self.live['id']}/bag")
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"products"}
        return [p["id"] for p in resp.json()["products"]]

    def events(self) -> list[dict[str, Any]]:
        resp = self.api.client.get(f"/api/lives/{self.live['id']}/events?limit=1000")
        assert resp.status_code == 200, resp.text
        events: list[dict[str, Any]] = resp.json()["events"]
        return events


@pytest.fixture
def world(api: Api) -> World:
    return World(api)


EXPECTED = {
    "anonymous": (401, "authentication_required"),
    "viewer": (403, "forbidden"),
    "other_creator": (403, "forbidden"),
    "staff": (403, "forbidden"),
    "moderator": (200, None),
    "admin": (200, None),
    "owner": (200, None),
}


def test_who_may_pin_and_unpin_by_rest(world: World) -> None:
    mug = world.products[0]
    for actor, (status, code) in EXPECTED.items():
        who = world.users[actor]
        # Something else is pinned before each attempt.
        assert world.pin(world.owner, world.products[1]["id"]).status_code == 200
        before = world.events()
        resp = world.pin(who, mug["id"])
        if code is None:
            assert resp.status_code == 200, (actor, resp.text)
            pinned = resp.json()["pinned"]
            assert set(resp.json()) == {"pinned"}
            assert pinned["product"]["id"] == mug["id"]
            assert pinned["deal"] is None
            assert pinned["by"]["id"] == (who or {})["user"]["id"]
            assert world.get_live()["pinned"]["product"]["id"] == mug["id"]
        else:
            assert error_code(resp, status) == code, actor
            assert world.events() == before, actor  # nothing happened
            assert world.get_live()["pinned"]["product"]["id"] == world.products[1]["id"]

        before = world.events()
        resp = world.unpin(who)
        if code is None:
            assert resp.status_code == 204, (actor, resp.text)
            assert resp.content == b""
            assert world.get_live()["pinned"] is None
            assert world.events()[-1]["type"] == "unpinned"
        else:
            assert error_code(resp, status) == code, actor
            assert world.events() == before, actor
            assert world.get_live()["pinned"] is not None


def test_pin_only_while_live(world: World, api: Api) -> None:
    scheduled = api.live(world.owner)
    mug = world.products[0]
    assert error_code(world.pin(world.owner, mug["id"], scheduled["id"]), 409) == "invalid_state"
    assert error_code(world.unpin(world.owner, scheduled["id"]), 409) == "invalid_state"
    assert world.get_live(scheduled["id"])["pinned"] is None
    assert world.bag(scheduled["id"]) == []

    assert world.pin(world.owner, mug["id"]).status_code == 200
    resp = api.client.post(f"/api/lives/{world.live['id']}/end", headers=api.auth(world.owner))
    assert resp.status_code == 200
    assert resp.json()["live"]["pinned"] is None  # ending unpins
    for who in (world.owner, world.users["moderator"], world.users["admin"]):
        assert error_code(world.pin(who, mug["id"]), 409) == "invalid_state"
        assert error_code(world.unpin(who), 409) == "invalid_state"
    assert world.get_live()["pinned"] is None


def test_pin_only_the_creators_own_existing_products(world: World) -> None:
    for who in (world.owner, world.users["admin"], world.users["moderator"]):
        resp = world.pin(who, world.foreign["id"])
        assert error_code(resp, 422) == "foreign_product"
    assert error_code(world.pin(world.owner, 999_999), 404) == "not_found"
    assert error_code(world.pin(world.owner, world.products[0]["id"], 999), 404) == "not_found"
    assert error_code(world.pin(world.owner, world.products[0]["id"], "abc"), 404) == "not_found"
    for bad in ("1", None, 0, -1, 2**40, 1.5):
        assert error_code(world.pin(world.owner, bad), 422) == "validation_error", bad
    assert world.get_live()["pinned"] is None
    assert world.bag() == []
    assert world.events() == [world.events()[0]]  # live_started only


def test_a_new_pin_replaces_the_old_and_every_pin_fills_the_bag(world: World) -> None:
    a, b, c = (p["id"] for p in world.products)
    assert world.bag() == []
    for product_id in (a, b, a, c):
        assert world.pin(world.owner, product_id).status_code == 200
        assert world.get_live()["pinned"]["product"]["id"] == product_id
    assert world.bag() == [a, b, c]  # each once, in the order first pinned
    assert world.unpin(world.owner).status_code == 204
    assert world.unpin(world.owner).status_code == 204  # nothing pinned: still fine
    assert world.get_live()["pinned"] is None
    assert world.bag() == [a, b, c]  # unpinning keeps the bag
    resp = world.api.client.get("/api/lives/999/bag")
    assert error_code(resp, 404) == "not_found"
    types = [e["type"] for e in world.events()]
    assert types == ["live_started", "pinned", "pinned", "pinned", "pinned", "unpinned"]


DEAL_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"price_cents": 1300, "quantity": 5, "duration_s": 60}, "deal.price_cents"),
    ({"price_cents": 100, "quantity": 5, "per_buyer_limit": 6, "duration_s": 60}, "deal"),
    ({"price_cents": 100, "quantity": 5, "duration_s": 0}, "deal.duration_s"),
    ({"price_cents": 100, "quantity": 0, "duration_s": 60}, "deal.quantity"),
    ({"price_cents": -1, "quantity": 5, "duration_s": 60}, "deal.price_cents"),
    ({"price_cents": 100, "quantity": 5, "duration_s": -5}, "deal.duration_s"),
    ({"price_cents": 100, "quantity": 5}, "deal.duration_s"),
    ({"price_cents": 100, "quantity": 5, "per_buyer_limit": 0, "duration_s": 60}, "deal"),
    ({"price_cents": "100", "quantity": 5, "duration_s": 60}, "deal.price_cents"),
]


def test_deals_over_rest(world: World) -> None:
    listed = world.products[0]  # list price 1299
    for deal, field in DEAL_ERRORS:
        resp = world.pin(world.owner, listed["id"], **deal)
        assert error_code(resp, 422) == "validation_error", deal
        fields = resp.json()["error"].get("fields") or {}
        assert any(name.startswith(field) for name in fields), (deal, fields)
    assert world.get_live()["pinned"] is None
    assert [e["type"] for e in world.events()] == ["live_started"]

    mug = world.api.product(world.owner, title="Deal mug", price_cents=2000, stock=7)
    before = datetime.now(UTC)
    resp = world.pin(
        world.owner, mug["id"], price_cents=1500, quantity=5, per_buyer_limit=2, duration_s=600
    )
    assert resp.status_code == 200, resp.text
    pinned = resp.json()["pinned"]
    assert set(pinned) == {"product", "deal", "by", "claim_keyword"}
    assert pinned["claim_keyword"] is None
    assert pinned["product"] == {
        k: mug[k] for k in ("id", "title", "price_cents", "currency", "image_url", "url", "stock")
    }
    deal = pinned["deal"]
    assert set(deal) == DEAL_KEYS
    assert (deal["price_cents"], deal["quantity"], deal["remaining"], deal["per_buyer_limit"]) == (
        1500,
        5,
        5,
        2,
    )
    ends = parse_utc(deal["ends_at"])
    assert before + timedelta(seconds=599) <= ends <= datetime.now(UTC) + timedelta(seconds=601)
    assert pinned["by"]["id"] == world.owner["user"]["id"]
    assert world.get_live()["pinned"] == pinned
    event = world.events()[-1]
    assert event["type"] == "pinned" and event["data"] == pinned

    # Optional per-buyer limit; a deal price equal to the list price is allowed.
    resp = world.pin(world.owner, mug["id"], price_cents=2000, quantity=1, duration_s=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["pinned"]["deal"]["per_buyer_limit"] is None


def test_stats_for_creator_moderator_and_admin_only(world: World) -> None:
    a, b = world.products[0]["id"], world.products[1]["id"]
    assert world.pin(world.owner, a).status_code == 200
    assert world.pin(world.owner, b).status_code == 200
    path = f"/api/lives/{world.live['id']}/stats"
    for actor, (status, code) in EXPECTED.items():
        resp = world.api.client.get(path, headers=world.api.auth(world.users[actor]))
        if code is not None:
            assert error_code(resp, 401 if actor == "anonymous" else 403) == code, actor
            continue
        assert resp.status_code == status, (actor, resp.text)
        stats = resp.json()
        assert {"viewers", "peak_viewers", "pins"} <= set(stats)
        assert stats["viewers"] == 0
        assert stats["peak_viewers"] >= 0
        pins = stats["pins"]
        assert [p["product_id"] for p in pins] == [a, b]
        first, second = (parse_utc(p["pinned_at"]) for p in pins)
        assert first <= second
        assert parse_utc(pins[0]["unpinned_at"]) >= first
        assert pins[1]["unpinned_at"] is None
    resp = world.api.client.get("/api/lives/999/stats", headers=world.api.auth(world.owner))
    assert error_code(resp, 404) == "not_found"


# ---- over real sockets


async def pong(ws: ClientConnection) -> None:
    """The socket is still open and answering."""
    await send(ws, {"type": "ping"})
    assert (await next_frame(ws))["type"] == "pong"


async def test_pin_frames_follow_the_same_permissions(server: LiveServer, rest: Rest) -> None:
    owner = await rest.register("owner", "creator")
    viewer = await rest.register("viewer")
    moderator = await rest.register("moderator")
    other = await rest.register("other", "creator")
    admin = await make_user(server.state, "admin", Role.ADMIN)
    mug, cap = await rest.product(owner, title="Mug"), await rest.product(owner, title="Cap")
    theirs = await rest.product(other, title="Theirs")
    live = await rest.live(owner, start=True)
    scheduled = await rest.live(owner)
    await rest.moderator(owner, live["id"], "moderator")
    url = server.ws_url
    async with contextlib.AsyncExitStack() as stack:
        watcher = await stack.enter_async_context(connect(url(live["id"])))
        sockets: dict[str, ClientConnection] = {"watcher": watcher}
        for name, who in [
            ("anonymous", None),
            ("viewer", viewer),
            ("other", other),
            ("moderator", moderator),
            ("admin", admin),
            ("owner", owner),
        ]:
            token = who["token"] if who else None
            sockets[name] = await stack.enter_async_context(connect(url(live["id"], token=token)))
        for ws in sockets.values():
            await snapshot(ws)

        for name, code in [
            ("anonymous", "authentication_required"),
            ("viewer", "forbidden"),
            ("other", "forbidden"),
        ]:
            ws = sockets[name]
            for frame in ({"type": "pin", "product_id": mug["id"]}, {"type": "unpin"}):
                await send(ws, frame)
                error = await next_frame(ws)
                assert (error["type"], error["seq"]) == ("error", None), (name, error)
                assert error["data"]["code"] == code, (name, error)
            await pong(ws)  # still open
        assert [e["type"] for e in await rest.events(live["id"])] == ["live_started"]

        seq = 1
        for name, frame, product in [
            ("owner", {"type": "pin", "product_id": mug["id"]}, mug),
            ("moderator", {"type": "pin", "product_id": cap["id"]}, cap),
            ("moderator", {"type": "unpin"}, cap),
            ("admin", {"type": "pin", "product_id": mug["id"]}, mug),
            ("admin", {"type": "unpin"}, mug),
        ]:
            await send(sockets[name], frame)
            seq += 1
            for ws in sockets.values():  # every socket on the live gets it
                got = await next_frame(ws)
                assert got["seq"] == seq, (name, frame, got)
                if frame["type"] == "pin":
                    assert got["type"] == "pinned"
                    assert got["data"]["product"]["id"] == product["id"]
                    assert got["data"]["by"]["username"] in (name, "admin")
                else:
                    assert (got["type"], got["data"]) == ("unpinned", {"product_id": product["id"]})

        owner_ws = sockets["owner"]
        for frame, code in [
            ({"type": "pin", "product_id": theirs["id"]}, "foreign_product"),
            ({"type": "pin", "product_id": 999_999}, "not_found"),
            (
                {
                    "type": "pin",
                    "product_id": mug["id"],
                    "deal": {"price_cents": 99_999, "quantity": 1, "duration_s": 60},
                },
                "validation_error",
            ),
            ({"type": "pin", "product_id": mug["id"], "deal": {"quantity": 1}}, "validation_error"),
        ]:
            await send(owner_ws, frame)
            error = await next_frame(owner_ws)
            assert (error["type"], error["data"]["code"]) == ("error", code), error
        await pong(owner_ws)
        async with connect(url(scheduled["id"], token=owner["token"])) as ws:
            await snapshot(ws)
            for frame in ({"type": "pin", "product_id": mug["id"]}, {"type": "unpin"}):
                await send(ws, frame)
                error = await next_frame(ws)
                assert (error["type"], error["data"]["code"]) == ("error", "invalid_state")
        assert len(await rest.events(live["id"])) == seq
        assert await rest.events(scheduled["id"]) == []


async def mug_cap_show(rest: Rest) -> tuple[Who, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A creator ``owner`` with products Mug and Cap and a started live."""
    owner = await rest.register("owner", "creator")
    mug, cap = await rest.product(owner, title="Mug"), await rest.product(owner, title="Cap")
    return owner, mug, cap, await rest.live(owner, start=True)


async def test_unpin_replace_and_end_broadcast(server: LiveServer, rest: Rest) -> None:
    owner, mug, cap, live = await mug_cap_show(rest)
    async with connect(server.ws_url(live["id"])) as ws:
        await snapshot(ws)
        await rest.pinned(owner, live["id"], mug["id"])
        resp = await rest.unpin(owner, live["id"])
        assert resp.status_code == 204
        got = await frames(ws, 2)
        assert [(f["type"], f["seq"]) for f in got] == [("pinned", 2), ("unpinned", 3)]
        assert got[1]["data"] == {"product_id": mug["id"]}

        # Replacing a pinned deal ends it ("unpinned"); no unpinned frame in between.
        await rest.pinned(owner, live["id"], mug["id"], price_cents=500, quantity=4, duration_s=60)
        await rest.pinned(owner, live["id"], cap["id"])
        got = await frames(ws, 3)
        assert [(f["type"], f["seq"]) for f in got] == [
            ("pinned", 4),
            ("deal_ended", 5),
            ("pinned", 6),
        ]
        assert got[0]["data"]["deal"]["remaining"] == 4
        assert got[1]["data"] == {"product_id": mug["id"], "reason": "unpinned"}
        assert got[2]["data"]["product"]["id"] == cap["id"]
        assert got[2]["data"]["deal"] is None

        # Ending the live unpins (ending the deal first), then live_ended.
        await rest.pinned(owner, live["id"], cap["id"], price_cents=10, quantity=3, duration_s=900)
        await rest.end(owner, live["id"])
        got = await until(ws, "live_ended")
        assert [(f["type"], f["seq"], f["data"]) for f in got] == [
            ("pinned", 7, got[0]["data"]),
            ("deal_ended", 8, {"product_id": cap["id"], "reason": "unpinned"}),
            ("unpinned", 9, {"product_id": cap["id"]}),
            ("live_ended", 10, {}),
        ]
    assert (await rest.get_live(live["id"]))["pinned"] is None


def deal_ends(events: list[Frame]) -> list[Frame]:
    return [e for e in events if e["type"] == "deal_ended"]


async def test_a_deal_expires_on_its_own(server: LiveServer, rest: Rest) -> None:
    owner, mug, cap, live = await mug_cap_show(rest)
    async with connect(server.ws_url(live["id"])) as ws:
        await snapshot(ws)
        pinned = await rest.pinned(
            owner, live["id"], mug["id"], price_cents=100, quantity=3, duration_s=1
        )
        ends_at = parse_utc(pinned["deal"]["ends_at"])
        got = await next_frame(ws)
        assert (got["type"], got["data"]["deal"]) == ("pinned", pinned["deal"])
        # No request arrives; the server ends the deal on time.
        ended = await next_frame(ws, within=4)
        assert ended["type"] == "deal_ended"
        assert ended["data"] == {"product_id": mug["id"], "reason": "expired"}
        assert ended["seq"] == got["seq"] + 1
        assert ended["ts"] >= ends_at.timestamp() * 1000 - 50
        assert ended["ts"] <= ends_at.timestamp() * 1000 + 2500
        now = await rest.get_live(live["id"])
        assert now["pinned"]["product"]["id"] == mug["id"]  # still pinned, without the deal
        assert now["pinned"]["deal"] is None
        # Exactly once: the next event follows directly.
        await rest.pinned(owner, live["id"], cap["id"])
        nxt = await next_frame(ws)
        assert (nxt["type"], nxt["seq"]) == ("pinned", ended["seq"] + 1)
    assert len(deal_ends(await rest.events(live["id"]))) == 1


async def test_a_deal_ends_exactly_once_with_two_app_instances(
    settings: Settings, redis_url: str
) -> None:
    shared = replace(with_redis(settings, redis_url), presence_interval_s=0.1)
    async with (
        serve(shared) as a,
        serve(shared) as b,
        http_client(a.url, timeout=10) as http,
    ):
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        products = [await rest.product(owner, title=f"P{i}") for i in range(3)]
        lives = [await rest.live(owner, start=True) for _ in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            watchers: list[tuple[int, ClientConnection]] = []
            for live in lives:
                for server in (a, b):
                    ws = await stack.enter_async_context(connect(server.ws_url(live["id"])))
                    await snapshot(ws)
                    watchers.append((live["id"], ws))
            for live, product in zip(lives, products, strict=True):
                await rest.pinned(
                    owner, live["id"], product["id"], price_cents=1, quantity=1, duration_s=1
                )
            b.state.deals.poke()  # both clocks now wait for the same deadlines
            for live_id, ws in watchers:
                got = await until(ws, "deal_ended", within=5)
                assert [f["type"] for f in got] == ["pinned", "deal_ended"], live_id
                assert got[1]["data"]["reason"] == "expired"
                assert got[1]["seq"] == 3
            for live in lives:
                assert (await rest.unpin(owner, live["id"])).status_code == 204
            for live_id, ws in watchers:
                nxt = await next_frame(ws)
                assert (nxt["type"], nxt["seq"]) == ("unpinned", 4), live_id
        for live in lives:
            assert len(deal_ends(await rest.events(live["id"]))) == 1


async def test_a_deal_that_expired_while_the_server_was_down_ends_once_on_restart(
    settings: Settings,
) -> None:
    quick = replace(settings, presence_interval_s=0.1)
    async with serve(quick) as server, http_client(server.url) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        mug, cap = await rest.product(owner, title="Mug"), await rest.product(owner, title="Cap")
        live = await rest.live(owner, start=True)
        pinned = await rest.pinned(
            owner, live["id"], mug["id"], price_cents=100, quantity=3, duration_s=1
        )
        seq = (await rest.events(live["id"]))[-1]["seq"]
    # The server is down while the deal runs out: there is nothing to wait for but the clock.
    left = parse_utc(pinned["deal"]["ends_at"]) - datetime.now(UTC)
    await asyncio.sleep(max(0.0, left.total_seconds()) + 0.2)

    async with serve(quick) as server, http_client(server.url) as http:
        rest = Rest(http)
        async with connect(server.ws_url(live["id"], after=seq)) as ws:
            got = await until(ws, "deal_ended", within=5)
            types = [f["type"] for f in got]
            assert types in (["deal_ended"], ["resumed", "deal_ended"]), types
            assert got[-1]["seq"] == seq + 1
            assert got[-1]["data"] == {"product_id": mug["id"], "reason": "expired"}
            if types == ["deal_ended"]:
                resumed = await next_frame(ws)
                assert resumed["type"] == "resumed"
                assert resumed["data"] == {"from": seq, "to": seq + 1}
            await rest.pinned(owner, live["id"], cap["id"])
            nxt = await next_frame(ws)
            assert (nxt["type"], nxt["seq"]) == ("pinned", seq + 2)
        assert len(deal_ends(await rest.events(live["id"]))) == 1


async def test_stats_count_viewers_and_peak(server: LiveServer, rest: Rest) -> None:
    owner = await rest.register("owner", "creator")
    viewer = await rest.register("viewer")
    live = await rest.live(owner, start=True)
    path = f"/api/lives/{live['id']}/stats"
    async with connect(server.ws_url(live["id"])) as first:
        await snapshot(first)
        async with connect(server.ws_url(live["id"], token=viewer["token"])) as second:
            await snapshot(second)
            assert (await rest.http.get(path, headers=auth(owner))).json()["viewers"] == 2
            await viewers_count(first, 2)
            assert (await rest.http.get(path, headers=auth(viewer))).status_code == 403
        # Once the count has gone round, the peak stays.
        await viewers_count(first, 1)
        stats = (await rest.http.get(path, headers=auth(owner))).json()
        assert stats["viewers"] == 1
        assert stats["peak_viewers"] == 2
        assert (await rest.get_live(live["id"]))["viewers"] == 1
