"""Webhooks (contract: Webhooks) against a real local HTTP receiver, through a real
server on SQLite and PostgreSQL: endpoints and their secret, signed events about the
creator's own products only, in order per order, retried with the same id after a 500
and after a timeout, attempts visible, replay, disabling; a hanging receiver does not
slow order placement; production refuses local and private addresses."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import update
from sqlmodel import select

from app.accounts import Role
from app.db import Database
from app.settings import Settings
from app.webhook_listen import listener
from checkout.webhook_delivery import Job, Refused, Sender
from checkout.webhook_models import Webhook, WebhookDelivery
from checkout.webhook_rules import SIGNATURE_HEADER, address_allowed, signature, verify
from common.times import utcnow
from tests.http_helpers import assert_error
from tests.live_server import LiveServer, serve
from tests.order_helpers import SHIPPING, fresh_key
from tests.webhook_helpers import Received, receiving, settled, subscribe
from tests.ws_helpers import Rest, Who, auth, make_user, rest_for


@pytest.fixture
async def quick(settings: Settings) -> AsyncIterator[tuple[LiveServer, Rest]]:
    """A server whose receivers have 1 s to answer."""
    async with serve(replace(settings, webhook_timeout_s=1.0)) as server, \
            rest_for(server.url) as rest:  # fmt: skip
        yield server, rest


async def order(rest: Rest, who: Who, product_id: int, quantity: int = 1) -> dict[str, Any]:
    headers = {**auth(who), "Idempotency-Key": fresh_key()}
    body = {"product_id": product_id, "quantity": quantity, "shipping": SHIPPING}
    resp = await rest.http.post("/api/orders", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    placed: dict[str, Any] = resp.json()["order"]
    return placed


async def take(receiver: Any, count: int = 1) -> list[Received]:
    return await asyncio.to_thread(receiver.take_many, count)


def signed(got: Received, secret: str) -> bool:
    return verify(secret, got.headers["Livecart-Signature"], got.body, time.time())


async def due_now(server: LiveServer) -> None:
    """Bring every pending retry forward to now (as if its backoff had passed)."""
    async with server.state.db.write() as session:
        await session.exec(update(WebhookDelivery).values(next_attempt_at=utcnow()))


async def test_endpoints_are_a_creators_own_and_the_secret_is_shown_once(rest: Rest) -> None:
    cara, dan, bob = (await rest.register("cara", "creator"), await rest.register("dan", "creator"),
                      await rest.register("bob"))  # fmt: skip
    hook = await subscribe(rest, cara, "https://shop.example/hooks", "order.placed")
    assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
    listed = (await rest.http.get("/api/webhooks", headers=auth(cara))).json()["webhooks"]
    assert [(w["id"], w["events"], w["secret"]) for w in listed] == [
        (hook["id"], ["order.placed"], None)]  # fmt: skip
    assert (await rest.http.get("/api/webhooks", headers=auth(dan))).json()["webhooks"] == []
    assert_error(await rest.http.get("/api/webhooks", headers=auth(bob)), 403)
    assert_error(await rest.http.get(f"/api/webhooks/{hook['id']}/deliveries",
                                     headers=auth(dan)), 404)  # fmt: skip
    assert_error(await rest.http.delete(f"/api/webhooks/{hook['id']}", headers=auth(dan)), 404)
    for bad in ({"url": "ftp://shop.example/x", "events": ["order.placed"]},
                {"url": "https://shop.example/x", "events": ["order.eaten"]},
                {"url": "https://shop.example/x", "events": []},
                {"url": "/relative", "events": ["order.placed"]}):  # fmt: skip
        resp = await rest.http.post("/api/webhooks", json=bad, headers=auth(cara))
        assert_error(resp, 422, "validation_error")
    gone = await rest.http.delete(f"/api/webhooks/{hook['id']}", headers=auth(cara))
    assert gone.status_code == 204
    assert (await rest.http.get("/api/webhooks", headers=auth(cara))).json()["webhooks"] == []


async def test_signed_events_in_order_and_only_the_creators_own(
    quick: tuple[LiveServer, Rest],
) -> None:
    server, rest = quick
    cara, dan = await rest.register("cara", "creator"), await rest.register("dan", "creator")
    staff = await make_user(server.state, "sam", Role.STAFF)
    bob = await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=5)
    lamp = await rest.product(dan, title="Lamp", price_cents=4000, stock=5)
    with receiving() as mine, receiving() as theirs:
        hook = await subscribe(rest, cara, mine.url)
        await subscribe(rest, dan, theirs.url, "order.placed")
        placed = await order(rest, bob, mug["id"], 2)
        first = await take(mine, 2)  # order.placed and stock.changed
        by_type = {g.event["type"]: g for g in first}
        assert set(by_type) == {"order.placed", "stock.changed"}
        assert all(signed(g, hook["secret"]) for g in first)
        assert not signed(first[0], "whsec_wrong")
        event = by_type["order.placed"].event
        assert set(event) == {"id", "type", "created_at", "data"}
        assert event["id"].startswith("evt_") and event["data"]["order"]["id"] == placed["id"]
        assert by_type["stock.changed"].event["data"] == {"product_id": mug["id"], "stock": 3,
                                                          "sold": 2}  # fmt: skip
        (accepted,) = await take(mine)  # the fulfillment queue took it
        assert accepted.event["data"]["order"]["status"] == "accepted"
        # Staff move it along: each change is an order.updated, in the order they happened.
        for to in ("picking", "packed"):
            resp = await rest.http.post(f"/api/fulfillment/orders/{placed['id']}/transition",
                                        json={"to": to}, headers=auth(staff))  # fmt: skip
            assert resp.status_code == 200, resp.text
        updates = [accepted.event] + [g.event for g in await take(mine, 2)]
        assert [u["type"] for u in updates] == ["order.updated"] * 3
        assert [u["data"]["order"]["status"] for u in updates] == ["accepted", "picking", "packed"]
        # Dan's endpoint heard nothing of Cara's shop; his own order reaches him.
        assert theirs.nothing_more()
        await order(rest, bob, lamp["id"])
        (got,) = await take(theirs)
        assert got.event["data"]["order"]["product_id"] == lamp["id"]
    deliveries = await settled(rest, cara, hook["id"])
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200
               for d in deliveries)  # fmt: skip


async def test_a_500_and_a_timeout_are_retried_with_the_same_id(
    quick: tuple[LiveServer, Rest],
) -> None:
    server, rest = quick
    cara, bob = await rest.register("cara", "creator"), await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=5)
    with receiving(500, ("hang", 3.0), "ok") as receiver:
        hook = await subscribe(rest, cara, receiver.url, "order.placed")
        await order(rest, bob, mug["id"])
        (failed,) = await take(receiver)
        await due_now_after_attempts(server, rest, cara, hook["id"], 1)
        (hung,) = await take(receiver)
        await due_now_after_attempts(server, rest, cara, hook["id"], 2)
        (delivered,) = await take(receiver)
    assert failed.event["id"] == hung.event["id"] == delivered.event["id"]
    assert failed.body == hung.body == delivered.body
    (delivery,) = await settled(rest, cara, hook["id"])
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [500, None, 200]
    assert (
        attempts[0]["excerpt"].startswith("receiver error") and len(attempts[0]["excerpt"]) == 200
    )
    assert attempts[1]["error"] == "no answer within 1 s"
    assert delivery["status"] == "delivered"
    # Its owner may send it again (here to a new receiver): same id, same body.
    with receiving() as receiver:
        await point_at(server, hook["id"], receiver.url)
        again = await rest.http.post(
            f"/api/webhooks/{hook['id']}/deliveries/{delivery['id']}/replay", headers=auth(cara)
        )
        assert again.status_code == 200, again.text
        (replayed,) = await take(receiver)
    assert replayed.body == delivered.body


async def due_now_after_attempts(server: LiveServer, rest: Rest, who: Who, hook_id: int,
                                 attempts: int) -> None:  # fmt: skip
    """Once the delivery has recorded ``attempts`` attempts, make its retry due now."""
    for _ in range(200):
        found = (await rest.http.get(f"/api/webhooks/{hook_id}/deliveries",
                                     headers=auth(who))).json()["deliveries"]  # fmt: skip
        if found and len(found[0]["attempts"]) >= attempts:
            await due_now(server)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {attempts} attempts recorded")


async def point_at(server: LiveServer, hook_id: int, url: str) -> None:
    async with server.state.db.write() as session:
        webhook = await session.get(Webhook, hook_id)
        assert webhook is not None
        webhook.url = url
        session.add(webhook)


async def test_a_hanging_receiver_does_not_slow_orders(quick: tuple[LiveServer, Rest]) -> None:
    _server, rest = quick
    cara, bob = await rest.register("cara", "creator"), await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=100)
    with receiving(*[("hang", 6.0)] * 50) as receiver:
        await subscribe(rest, cara, receiver.url)
        await order(rest, bob, mug["id"])
        await take(receiver)  # the first delivery now hangs on the receiver
        timings = []
        for _ in range(10):
            started = time.monotonic()
            await order(rest, bob, mug["id"])
            timings.append(time.monotonic() - started)
    # Each order answered long before one hanging delivery (6 s) could have ended (the
    # figures on an idle machine are in docs/benchmarks.md: no added latency).
    assert max(timings) < 3.0, timings


async def test_a_stop_does_not_wait_for_a_hanging_receiver(settings: Settings) -> None:
    """The send in flight is given up unrecorded: its lease expires and it goes again."""
    hang_s = 60.0
    with receiving(("hang", hang_s)) as receiver:
        # The receiver hangs longer than this: a stop that waited for it fails here.
        async with asyncio.timeout(hang_s / 2):
            async with serve(replace(settings, webhook_timeout_s=hang_s)) as server, \
                    rest_for(server.url) as rest:  # fmt: skip
                cara, bob = await rest.register("cara", "creator"), await rest.register("bob")
                mug = await rest.product(cara, title="Mug", price_cents=1500, stock=5)
                await subscribe(rest, cara, receiver.url, "order.placed")
                await order(rest, bob, mug["id"])
                await take(receiver)  # in flight now, and hanging
    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            (delivery,) = (await session.exec(select(WebhookDelivery))).all()
    finally:
        await db.dispose()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.locked_until is not None  # leased: due again once the lease is over


def test_production_refuses_local_and_private_addresses() -> None:
    for text in ("127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                 "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1",
                 "224.0.0.1"):  # fmt: skip
        assert not address_allowed(ipaddress.ip_address(text), allow_local=False), text
        assert address_allowed(ipaddress.ip_address(text), allow_local=True), text
    for text in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        assert address_allowed(ipaddress.ip_address(text), allow_local=False), text


async def test_the_address_is_checked_at_every_send() -> None:
    answers = {"shop.example": ["93.184.215.14"], "rebind.example": ["10.0.0.5"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    sender = Sender(allow_local=False, timeout_s=1.0, resolve=resolve)
    try:
        url, headers, extensions = await sender.target("https://shop.example:8443/hooks?x=1")
        assert url == "https://93.184.215.14:8443/hooks?x=1"
        assert headers == {"Host": "shop.example:8443"}
        assert extensions == {"sni_hostname": "shop.example"}
        with pytest.raises(Refused):
            await sender.target("http://rebind.example/hooks")
        answers["shop.example"] = ["10.0.0.5"]  # the name now points inside: refused now
        outcome = await sender.send(Job(1, 1, "https://shop.example/hooks", "whsec_x", "{}"))
        assert outcome.status_code is None and "may not reach" in (outcome.error or "")
    finally:
        await sender.close()


async def test_registration_in_production_refuses_local_urls(settings: Settings) -> None:
    production = replace(settings, env="production")
    async with serve(production) as server, rest_for(server.url) as rest:
        cara = await rest.register("cara", "creator")
        for url in ("http://127.0.0.1:9/hooks", "http://localhost/hooks", "http://10.0.0.1/x",
                    "http://169.254.169.254/latest/meta-data"):  # fmt: skip
            resp = await rest.http.post("/api/webhooks", headers=auth(cara),
                                        json={"url": url, "events": ["order.placed"]})  # fmt: skip
            error = assert_error(resp, 422, "validation_error")
            assert set(error["fields"]) == {"url"}, url


async def test_the_listen_command_prints_checks_and_spots_duplicates() -> None:
    out = io.StringIO()
    app = listener("whsec_test", out, clock=lambda: 1_800_000_000.0)
    body = b'{"id":"evt_1","type":"order.placed","created_at":"x","data":{"order":{"id":7}}}'
    good = signature("whsec_test", body, 1_800_000_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://listen") as http:  # fmt: skip
        for header in (good, good, "t=1800000000,v1=00"):
            resp = await http.post("/hooks", content=body, headers={SIGNATURE_HEADER: header})
            assert resp.status_code == 200
        assert (await http.post("/", content=b"nope")).status_code == 400
    lines = [line for line in out.getvalue().splitlines() if line.startswith("order.placed")]
    assert lines == ["order.placed evt_1 [signed]", "order.placed evt_1 [signed] (again: drop it)",
                     "order.placed evt_1 [BAD SIGNATURE] (again: drop it)"]  # fmt: skip


async def test_an_endpoint_failing_for_a_day_is_disabled_then_resumed(
    quick: tuple[LiveServer, Rest],
) -> None:
    server, rest = quick
    cara, bob = await rest.register("cara", "creator"), await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=5)
    with receiving(*[503] * 10) as receiver:
        hook = await subscribe(rest, cara, receiver.url, "order.placed")
        await order(rest, bob, mug["id"])
        await take(receiver)
        await due_now_after_attempts(server, rest, cara, hook["id"], 1)
        async with server.state.db.write() as session:  # as if it had failed since yesterday
            webhook = await session.get(Webhook, hook["id"])
            assert webhook is not None and webhook.failing_since is not None
            webhook.failing_since = utcnow() - timedelta(hours=25)
            session.add(webhook)
        await take(receiver)
        (delivery,) = await settled(rest, cara, hook["id"])
    assert delivery["status"] == "failed"
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503]
    (listed,) = (await rest.http.get("/api/webhooks", headers=auth(cara))).json()["webhooks"]
    assert listed["status"] == "disabled" and listed["disabled_at"] is not None
    with receiving() as receiver:
        await order(rest, bob, mug["id"])  # nothing is sent to a disabled endpoint
        assert await asyncio.to_thread(receiver.nothing_more, 1.5)
        await point_at(server, hook["id"], receiver.url)
        resumed = await rest.http.post(f"/api/webhooks/{hook['id']}/enable", headers=auth(cara))
        assert resumed.status_code == 200 and resumed.json()["webhook"]["status"] == "active"
        replay = f"/api/webhooks/{hook['id']}/deliveries/{delivery['id']}/replay"
        assert (await rest.http.post(replay, headers=auth(cara))).status_code == 200
        # The order placed while it was disabled may be queued too (this process still
        # listed the endpoint for up to 2 s): it goes out after the resume as well.
        bodies = [g.body.decode() for g in await take(receiver)]
        if delivery["body"] not in bodies:
            bodies += [g.body.decode() for g in await take(receiver)]
    assert delivery["body"] in bodies
