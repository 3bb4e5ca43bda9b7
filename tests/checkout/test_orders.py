"""Placing and reading orders (contract: Orders), through the ASGI app, on SQLite and PostgreSQL.

Idempotency-Key rules, the order's shape, bad input that leaves nothing
half-written, payment declines, who may see an order, the staff board, and the
in-process consumer that accepts orders when there is no Redis.
"""

from __future__ import annotations

import json
from typing import Any

from tests.order_helpers import (
    ORDER_KEYS,
    SHIPPING,
    Shop,
    check_order,
    error_code,
    fresh_key,
    order_body,
    statuses,
)


def test_place_order_answers_the_contract_shape(shop: Shop) -> None:
    resp = shop.order(shop.buyer, quantity=2)
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"order"}
    assert "Idempotent-Replayed" not in resp.headers
    order = check_order(resp.json()["order"])
    assert {k: order[k] for k in ORDER_KEYS - {"id", "history", "created_at"}} == {
        "buyer_id": shop.buyer["user"]["id"],
        "product_id": shop.pid,
        "live_id": None,
        "quantity": 2,
        "unit_price_cents": 1299,
        "total_cents": 2598,
        "currency": "USD",
        "status": "placed",
        "payment_status": "authorized",
        "tracking": None,
    }
    assert [(h["status"], h["by"]) for h in order["history"]] == [("placed", "buyer")]
    assert order.get("shipping", SHIPPING) == SHIPPING
    assert shop.stock() == 8

    # Reading it back: the same order (the queue may have accepted it meanwhile).
    again = shop.get(shop.buyer, order["id"])
    assert again.status_code == 200, again.text
    assert set(again.json()) == {"order"}
    seen = check_order(again.json()["order"])
    assert seen["id"] == order["id"]
    assert seen["history"][0] == order["history"][0]
    assert seen["status"] in ("placed", "accepted")
    mine = shop.client.get("/api/orders", headers=shop.api.auth(shop.buyer))
    assert mine.status_code == 200
    assert set(mine.json()) == {"orders"}
    assert [o["id"] for o in mine.json()["orders"]] == [order["id"]]


def test_idempotency_key_is_required_and_bounded(shop: Shop) -> None:
    body = order_body(shop.pid)
    auth = shop.api.auth(shop.buyer)
    resp = shop.client.post("/api/orders", json=body, headers=auth)
    assert error_code(resp, 400) == "idempotency_key_required"
    resp = shop.client.post("/api/orders", json=body, headers={**auth, "Idempotency-Key": ""})
    assert error_code(resp, 400) == "idempotency_key_required"
    for bad in ("k" * 256, "tab\there", "del\x7f"):
        resp = shop.order(shop.buyer, key=bad)
        assert error_code(resp, 422) == "invalid_idempotency_key", bad
    assert shop.stock() == 10
    assert shop.all_orders() == []

    # 1 and 255 characters are fine.
    assert shop.order(shop.buyer, key="k").status_code == 201
    assert shop.order(shop.buyer, key="k" * 255).status_code == 201
    assert shop.stock() == 8

    # Anonymous callers cannot buy, key or no key.
    resp = shop.order(None)
    assert error_code(resp, 401) == "authentication_required"
    assert shop.stock() == 8


def test_same_key_same_body_replays_the_same_order(shop: Shop) -> None:
    key = fresh_key()
    first = shop.order(shop.buyer, quantity=3, key=key)
    assert first.status_code == 201, first.text
    order = first.json()["order"]

    for _ in range(2):
        again = shop.order(shop.buyer, quantity=3, key=key)
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["order"]["id"] == order["id"]
        assert again.json() == first.json()
    # The same request spelled differently (key order, an ignored extra field) is the same.
    respelled = {
        "shipping": dict(reversed(list(SHIPPING.items()))),
        "quantity": 3,
        "product_id": shop.pid,
        "note": "ignored",
    }
    again = shop.order(shop.buyer, key=key, body=respelled)
    assert again.status_code == 201, again.text
    assert again.json()["order"]["id"] == order["id"]

    assert shop.stock() == 7  # taken once
    assert [o["id"] for o in shop.all_orders()] == [order["id"]]


def test_same_key_with_another_body_is_refused(shop: Shop) -> None:
    key = fresh_key()
    order = shop.place(quantity=1, key=key)
    other_product = shop.api.product(shop.owner, title="Cap", stock=5)
    for changed in (
        order_body(shop.pid, 2),
        order_body(other_product["id"], 1),
        order_body(shop.pid, 1, shipping={**SHIPPING, "city": "Paris"}),
    ):
        resp = shop.order(shop.buyer, key=key, body=changed)
        assert error_code(resp, 422) == "idempotency_mismatch", changed
    assert shop.stock() == 9
    assert shop.stock(other_product["id"]) == 5
    assert [o["id"] for o in shop.all_orders()] == [order["id"]]


def test_keys_are_per_buyer(shop: Shop) -> None:
    key = "checkout-1"
    mine = shop.place(shop.buyer, key=key)
    resp = shop.order(shop.other, key=key)
    assert resp.status_code == 201, resp.text
    assert "Idempotent-Replayed" not in resp.headers
    theirs = resp.json()["order"]
    assert theirs["id"] != mine["id"]
    assert theirs["buyer_id"] == shop.other["user"]["id"]
    # A different body under the same key is fine for another buyer too.
    resp = shop.order(shop.rival, quantity=2, key=key)
    assert resp.status_code == 201, resp.text
    assert shop.stock() == 6
    assert len(shop.all_orders()) == 3


DROP = object()  # marks a field to leave out

BAD_CHANGES: list[tuple[str, dict[str, Any], int, str]] = [
    ("quantity 0", {"quantity": 0}, 422, "validation_error"),
    ("quantity -1", {"quantity": -1}, 422, "validation_error"),
    ("quantity 10**9", {"quantity": 10**9}, 422, "validation_error"),
    ("quantity '2'", {"quantity": "2"}, 422, "validation_error"),
    ("quantity true", {"quantity": True}, 422, "validation_error"),
    ("quantity 1.5", {"quantity": 1.5}, 422, "validation_error"),
    ("quantity null", {"quantity": None}, 422, "validation_error"),
    ("no quantity", {"quantity": DROP}, 422, "validation_error"),
    ("product '1'", {"product_id": "1"}, 422, "validation_error"),
    ("product 0", {"product_id": 0}, 422, "validation_error"),
    ("no product", {"product_id": DROP}, 422, "validation_error"),
    ("unknown product", {"product_id": 999_999}, 404, "not_found"),
    ("live_id '1'", {"live_id": "1"}, 422, "validation_error"),
    ("unknown live", {"live_id": 999_999}, 422, "unknown_live"),
    ("no shipping", {"shipping": DROP}, 422, "validation_error"),
    ("shipping null", {"shipping": None}, 422, "validation_error"),
    ("shipping a string", {"shipping": "London"}, 422, "validation_error"),
    ("country usa", {"shipping.country": "usa"}, 422, "validation_error"),
    ("country USA", {"shipping.country": "USA"}, 422, "validation_error"),
    ("NUL in name", {"shipping.name": "Ada\x00"}, 422, "validation_error"),
    ("newline in line1", {"shipping.line1": "1\nMain St"}, 422, "validation_error"),
    ("empty city", {"shipping.city": ""}, 422, "validation_error"),
    ("numeric postal code", {"shipping.postal_code": 12345}, 422, "validation_error"),
    *((f"no shipping.{k}", {f"shipping.{k}": DROP}, 422, "validation_error") for k in SHIPPING),
    ("more than in stock", {"quantity": 11}, 409, "insufficient_stock"),
]


def changed_body(product_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    body = order_body(product_id)
    for name, value in changes.items():
        where, field = (body["shipping"], name[9:]) if name.startswith("shipping.") else (
            body, name
        )  # fmt: skip
        if value is DROP:
            del where[field]
        else:
            where[field] = value
    return body


def test_bad_input_is_refused_and_writes_nothing(shop: Shop) -> None:
    burned = fresh_key()  # used by every failing request first: must stay free
    headers = {**shop.api.auth(shop.buyer), "Idempotency-Key": burned,
               "Content-Type": "application/json"}  # fmt: skip
    sent: list[tuple[str, bytes, int, str]] = [
        (name, json.dumps(changed_body(shop.pid, changes)).encode(), status, code)
        for name, changes, status, code in BAD_CHANGES
    ]
    sent += [
        ("a list", json.dumps([order_body(shop.pid)]).encode(), 422, "validation_error"),
        ("null", b"null", 422, "validation_error"),
    ]
    for name, content, status, code in sent:
        resp = shop.client.post("/api/orders", content=content, headers=headers)
        assert error_code(resp, status) == code, name
        assert shop.stock() == 10, name
        assert shop.all_orders() == [], name
    resp = shop.client.post("/api/orders", content=b"{not json", headers=headers)
    assert resp.status_code in (400, 422), resp.text
    assert "code" in resp.json()["error"]
    assert shop.stock() == 10
    assert shop.all_orders() == []

    # None of the failures used up the key.
    resp = shop.order(shop.buyer, key=burned)
    assert resp.status_code == 201, resp.text
    assert "Idempotent-Replayed" not in resp.headers
    assert shop.stock() == 9


def test_orders_through_a_live_that_is_not_running(shop: Shop) -> None:
    scheduled = shop.live(start=False)
    ended = shop.live()
    resp = shop.client.post(f"/api/lives/{ended['id']}/end", headers=shop.api.auth(shop.owner))
    assert resp.status_code == 200, resp.text
    for live in (scheduled, ended):
        resp = shop.order(shop.buyer, live_id=live["id"])
        assert error_code(resp, 409) == "invalid_state"
    assert shop.stock() == 10
    assert shop.all_orders() == []
    # Through a running live it works (the product need not be pinned there).
    running = shop.live()
    order = shop.place(live_id=running["id"])
    assert (order["live_id"], order["unit_price_cents"]) == (running["id"], 1299)


def test_a_declined_payment_takes_nothing(shop: Shop) -> None:
    payments = shop.client.app.state.livecart.payments  # type: ignore[attr-defined]
    payments.decline_over_cents = 2000
    key = fresh_key()
    resp = shop.order(shop.buyer, quantity=2, key=key)  # 2598 cents
    assert error_code(resp, 402) == "payment_declined"
    assert shop.stock() == 10
    assert shop.all_orders() == []
    # Under the limit it goes through.
    assert shop.place(quantity=1)["total_cents"] == 1299
    assert shop.stock() == 9
    # The declined key was not used up: the same request succeeds once the limit allows it.
    payments.decline_over_cents = 100_000_000
    resp = shop.order(shop.buyer, quantity=2, key=key)
    assert resp.status_code == 201, resp.text
    assert "Idempotent-Replayed" not in resp.headers
    assert shop.stock() == 7
    assert len(shop.all_orders()) == 2

    # Through a live's deal: the deal's units are not taken either.
    live = shop.live()
    shop.pin(live["id"], price_cents=1000, quantity=2, duration_s=600)
    events = shop.client.get(f"/api/lives/{live['id']}/events").json()["events"]
    payments.decline_over_cents = 500
    resp = shop.order(shop.buyer, live_id=live["id"])
    assert error_code(resp, 402) == "payment_declined"
    assert shop.stock() == 7
    assert shop.client.get(f"/api/lives/{live['id']}/events").json()["events"] == events
    pinned = shop.client.get(f"/api/lives/{live['id']}").json()["live"]["pinned"]
    assert pinned["deal"]["remaining"] == 2


def test_who_sees_an_order(shop: Shop) -> None:
    order = shop.place(shop.buyer)
    theirs = shop.place(shop.other)
    for who in (shop.buyer, shop.owner, shop.staff, shop.admin):
        resp = shop.get(who, order["id"])
        assert resp.status_code == 200, (who["user"]["username"], resp.text)
        assert resp.json()["order"]["id"] == order["id"]
    for who in (shop.other, shop.rival):
        assert error_code(shop.get(who, order["id"]), 404) == "not_found"
    assert error_code(shop.get(None, order["id"]), 401) == "authentication_required"
    for bad in (999_999, "abc"):
        assert error_code(shop.get(shop.staff, bad), 404) == "not_found"

    def mine(who: Any) -> list[int]:
        resp = shop.client.get("/api/orders", headers=shop.api.auth(who))
        assert resp.status_code == 200, resp.text
        return [o["id"] for o in resp.json()["orders"]]

    assert mine(shop.buyer) == [order["id"]]
    assert mine(shop.other) == [theirs["id"]]
    assert mine(shop.owner) == []  # the creator sells, but these are not their orders
    assert mine(shop.staff) == []
    resp = shop.client.get("/api/orders")
    assert error_code(resp, 401) == "authentication_required"


def test_the_fulfillment_board_is_for_staff(shop: Shop) -> None:
    first = shop.accepted(shop.buyer)
    second = shop.accepted(shop.other)
    shop.move(second["id"], "picking")
    board = shop.all_orders()
    assert [o["id"] for o in board] == [second["id"], first["id"]]  # newest first
    assert [o["id"] for o in shop.all_orders("accepted")] == [first["id"]]
    assert [o["id"] for o in shop.all_orders("picking")] == [second["id"]]
    assert shop.all_orders("delivered") == []
    resp = shop.client.get("/api/fulfillment/orders?status=lost", headers=shop.api.auth(shop.staff))
    assert error_code(resp, 422) == "validation_error"
    for who, status in ((shop.buyer, 403), (shop.owner, 403), (None, 401)):
        resp = shop.client.get("/api/fulfillment/orders", headers=shop.api.auth(who))
        assert resp.status_code == status, resp.text
    resp = shop.client.get("/api/fulfillment/orders", headers=shop.api.auth(shop.admin))
    assert resp.status_code == 200
    assert len(resp.json()["orders"]) == 2


def test_the_in_process_consumer_accepts_orders(shop: Shop) -> None:
    # No Redis: the web process takes each order off the queue by itself.
    assert shop.client.app.state.livecart.queue is None  # type: ignore[attr-defined]
    orders = [shop.place(quantity=1) for _ in range(3)]
    for placed in orders:
        order = shop.wait_status(placed["id"], "accepted")
        assert [(h["status"], h["by"]) for h in order["history"]] == [
            ("placed", "buyer"),
            ("accepted", "fulfillment"),
        ]
        assert order["payment_status"] == "authorized"
    assert statuses(shop.fetch(orders[0]["id"])) == ["placed", "accepted"]


def test_the_largest_orders_fit(shop: Shop) -> None:
    # 1000 units at the highest price: a total of 10**12 cents, beyond 32 bits.
    payments = shop.client.app.state.livecart.payments  # type: ignore[attr-defined]
    big = shop.api.product(
        shop.owner, title="Yacht", price_cents=1_000_000_000, stock=1000, currency="EUR"
    )
    resp = shop.order(shop.buyer, big["id"], 1000)
    assert error_code(resp, 402) == "payment_declined"  # the test provider's default limit
    payments.decline_over_cents = 10**13
    order = shop.place(product_id=big["id"], quantity=1000)
    assert (order["total_cents"], order["currency"]) == (10**12, "EUR")
    assert shop.fetch(order["id"])["total_cents"] == 10**12
    assert shop.stock(big["id"]) == 0
    resp = shop.order(shop.buyer, big["id"], 1001)
    assert error_code(resp, 422) == "validation_error"
    for query in ("limit=0", "limit=abc", "offset=-1", "limit=201"):
        resp = shop.client.get(f"/api/orders?{query}", headers=shop.api.auth(shop.buyer))
        assert error_code(resp, 422) == "validation_error", query


async def test_the_test_payment_provider_keeps_a_bounded_record() -> None:
    from checkout.payments import RECORDED, TestPaymentProvider

    provider = TestPaymentProvider()
    refs = [await provider.authorize(100, "USD", f"r{i}") for i in range(RECORDED + 5)]
    assert len(provider.calls) == RECORDED
    assert provider.calls[-1] == ("authorize", refs[-1])
