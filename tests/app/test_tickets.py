"""Customer service (contract: Fulfillment v2): a buyer opens a ticket on their order,
staff answer (the buyer's sockets get a private ``ticket`` frame), either side closes it;
staff see an inbox by status; nobody else sees a ticket (404). In-process server, real
sockets, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.accounts import Role
from tests.auction_helpers import tapped
from tests.http_helpers import assert_error
from tests.live_server import LiveServer
from tests.order_helpers import fresh_key, order_body
from tests.ws_helpers import Rest, Who, auth, make_user


@pytest.fixture
async def shop(rest: Rest, server: LiveServer) -> dict[str, Any]:
    """A creator's product and live, a buyer's order, another buyer, and staff."""
    cara = await rest.register("cara", "creator")
    product = await rest.product(cara, title="Lamp", price_cents=5_000, stock=5)
    live = await rest.live(cara, start=True)
    bob, eve = await rest.register("bob"), await rest.register("eve")
    resp = await rest.http.post("/api/orders", json=order_body(product["id"]),
                                headers={**auth(bob), "Idempotency-Key": fresh_key()})  # fmt: skip
    assert resp.status_code == 201, resp.text
    staff = await make_user(server.state, "sam", Role.STAFF)
    return {"cara": cara, "bob": bob, "eve": eve, "sam": staff, "live": live,
            "order": resp.json()["order"], "server": server}  # fmt: skip


async def post(rest: Rest, path: str, who: Who | None, body: Any = None) -> Any:
    return await rest.http.post(path, json=body, headers=auth(who))


async def opened(rest: Rest, shop: dict[str, Any], text: str = "Where is my lamp?") -> Any:
    resp = await post(rest, f"/api/orders/{shop['order']['id']}/tickets", shop["bob"],
                      {"text": text})  # fmt: skip
    assert resp.status_code == 201, resp.text
    ticket: dict[str, Any] = resp.json()["ticket"]
    return ticket


async def test_a_conversation_from_open_to_closed(rest: Rest, shop: dict[str, Any]) -> None:
    ticket = await opened(rest, shop, "Where is my lamp?\nIt has been a week.")
    assert ticket["status"] == "open" and ticket["order_id"] == shop["order"]["id"]
    assert [(m["by"], m["staff"], m["text"]) for m in ticket["messages"]] == [
        ("bob", False, "Where is my lamp?\nIt has been a week.")
    ]
    tid = ticket["id"]
    async with tapped(shop["server"], shop["live"]["id"], shop["bob"]) as bob_socket:
        answered = await post(rest, f"/api/tickets/{tid}/messages", shop["sam"],
                              {"text": "It ships today."})  # fmt: skip
        assert answered.status_code == 201, answered.text
        assert answered.json()["ticket"]["status"] == "answered"
        frame = await bob_socket.wait_type("ticket")
        assert frame["seq"] is None
        assert frame["data"]["ticket"]["messages"][-1] == {
            **frame["data"]["ticket"]["messages"][-1], "by": "sam", "staff": True,
            "text": "It ships today.",
        }  # fmt: skip
        again = await post(rest, f"/api/tickets/{tid}/messages", shop["bob"], {"text": "Thanks"})
        assert again.json()["ticket"]["status"] == "open"  # the buyer wrote last
        closed = await post(rest, f"/api/tickets/{tid}/close", shop["sam"])
        assert closed.status_code == 200 and closed.json()["ticket"]["status"] == "closed"
        told = await bob_socket.wait_for(
            lambda f: f["type"] == "ticket" and f["data"]["ticket"]["status"] == "closed"
        )
        assert len(told["data"]["ticket"]["messages"]) == 3
        await bob_socket.settled()
        # The buyer's own message was not echoed to them as a frame: two frames, both staff's.
        assert len(bob_socket.of_type("ticket")) == 2
    assert_error(await post(rest, f"/api/tickets/{tid}/messages", shop["bob"], {"text": "x"}),
                 409, "ticket_closed")  # fmt: skip
    again_closed = await post(rest, f"/api/tickets/{tid}/close", shop["bob"])
    assert again_closed.status_code == 200
    read = await rest.http.get(f"/api/tickets/{tid}", headers=auth(shop["bob"]))
    assert [m["text"] for m in read.json()["ticket"]["messages"]] == [
        "Where is my lamp?\nIt has been a week.",
        "It ships today.",
        "Thanks",
    ]


async def test_only_the_buyer_and_staff_see_a_ticket(rest: Rest, shop: dict[str, Any]) -> None:
    ticket = await opened(rest, shop)
    tid, oid = ticket["id"], shop["order"]["id"]
    for who in (shop["eve"], shop["cara"]):  # another buyer; the product's creator
        assert_error(await rest.http.get(f"/api/tickets/{tid}", headers=auth(who)), 404)
        assert_error(await post(rest, f"/api/tickets/{tid}/messages", who, {"text": "hi"}), 404)
        assert_error(await post(rest, f"/api/tickets/{tid}/close", who), 404)
        listed = await rest.http.get("/api/tickets", headers=auth(who))
        assert listed.json()["tickets"] == []
    assert_error(await post(rest, f"/api/orders/{oid}/tickets", shop["eve"], {"text": "x"}), 404)
    assert_error(await post(rest, f"/api/orders/{oid}/tickets", shop["sam"], {"text": "x"}), 403)
    assert_error(await post(rest, f"/api/orders/{oid}/tickets", None, {"text": "x"}), 401)
    assert_error(await rest.http.get("/api/tickets/999999", headers=auth(shop["sam"])), 404)
    for bad in ({"text": ""}, {"text": "   \n"}, {"text": "x" * 2001}, {"text": 5}, {},
                {"text": "a\x00b"}):  # fmt: skip
        assert_error(await post(rest, f"/api/orders/{oid}/tickets", shop["bob"], bad), 422)
        assert_error(await post(rest, f"/api/tickets/{tid}/messages", shop["bob"], bad), 422)
    mine = await rest.http.get("/api/tickets", headers=auth(shop["bob"]))
    assert [t["id"] for t in mine.json()["tickets"]] == [tid]


async def test_the_staff_inbox_by_status(rest: Rest, shop: dict[str, Any]) -> None:
    first, second, third = [await opened(rest, shop, text) for text in ("one", "two", "three")]
    await post(rest, f"/api/tickets/{second['id']}/messages", shop["sam"], {"text": "on it"})
    await post(rest, f"/api/tickets/{third['id']}/close", shop["bob"])

    async def inbox(status: str | None = None) -> list[int]:
        query = "" if status is None else f"?status={status}"
        resp = await rest.http.get(f"/api/tickets{query}", headers=auth(shop["sam"]))
        assert resp.status_code == 200, resp.text
        return [t["id"] for t in resp.json()["tickets"]]

    assert await inbox("open") == [first["id"]]
    assert await inbox("answered") == [second["id"]]
    assert await inbox("closed") == [third["id"]]
    assert set(await inbox()) == {first["id"], second["id"], third["id"]}
    about = await rest.http.get(f"/api/tickets?order_id={shop['order']['id']}",
                                headers=auth(shop["sam"]))  # fmt: skip
    assert len(about.json()["tickets"]) == 3
    other = await rest.http.get("/api/tickets?order_id=999999", headers=auth(shop["sam"]))
    assert other.json()["tickets"] == []
    assert (await inbox())[0] == third["id"]  # the most recently changed first
    bad = await rest.http.get("/api/tickets?status=pending", headers=auth(shop["sam"]))
    assert_error(bad, 422, "validation_error")


async def test_two_messages_at_once_are_both_kept(rest: Rest, shop: dict[str, Any]) -> None:
    ticket = await opened(rest, shop)
    path = f"/api/tickets/{ticket['id']}/messages"
    answers = await asyncio.gather(
        *(post(rest, path, shop["sam"] if i % 2 else shop["bob"], {"text": f"m{i}"})
          for i in range(6))
    )  # fmt: skip
    assert [a.status_code for a in answers] == [201] * 6
    read = await rest.http.get(f"/api/tickets/{ticket['id']}", headers=auth(shop["bob"]))
    texts = [m["text"] for m in read.json()["ticket"]["messages"]]
    assert sorted(texts[1:]) == [f"m{i}" for i in range(6)]
    last = read.json()["ticket"]["messages"][-1]
    assert read.json()["ticket"]["status"] == ("answered" if last["staff"] else "open")
