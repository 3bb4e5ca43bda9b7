"""Bundled shipments (contract: Fulfillment v2): packed orders of one buyer, to one
address, ship together under one tracking number — all of them or none. SQLite and
PostgreSQL, through the app."""

from __future__ import annotations

from typing import Any

from tests.http_helpers import assert_error
from tests.order_helpers import SHIPPING, Shop

TO_PACKED = ("picking", "packed")


def packed(shop: Shop, who: Any = None, shipping: Any = None) -> dict[str, Any]:
    order = shop.accepted(who, shipping=shipping)
    return shop.move(order["id"], *TO_PACKED)


def ship(shop: Shop, order_ids: list[Any], who: Any = None, **extra: Any) -> Any:
    body = {"order_ids": order_ids, "carrier": "UPS", "tracking_number": "1ZBUNDLE", **extra}
    return shop.client.post("/api/fulfillment/shipments", json=body,
                            headers=shop.api.auth(who or shop.staff))  # fmt: skip


def statuses(shop: Shop, *orders: dict[str, Any]) -> list[str]:
    return [shop.fetch(o["id"])["status"] for o in orders]


def test_packed_orders_of_one_buyer_ship_together(shop: Shop) -> None:
    first, second = packed(shop), packed(shop)
    resp = ship(shop, [second["id"], first["id"]])
    assert resp.status_code == 201, resp.text
    shipment = resp.json()["shipment"]
    assert shipment["order_ids"] == sorted([first["id"], second["id"]])
    assert (shipment["carrier"], shipment["tracking_number"]) == ("UPS", "1ZBUNDLE")
    for order in (first, second):
        got = shop.fetch(order["id"])
        assert got["status"] == "shipped" and got["payment_status"] == "captured"
        assert got["tracking"] == {"carrier": "UPS", "tracking_number": "1ZBUNDLE"}
        assert got["shipment_id"] == shipment["id"]
        assert got["history"][-1]["by"] == "staff"


def test_all_or_none(shop: Shop) -> None:
    ready, unpacked = packed(shop), shop.accepted()
    resp = ship(shop, [ready["id"], unpacked["id"]])
    error = assert_error(resp, 409, "invalid_transition")
    assert f"#{unpacked['id']}" in error["message"]
    assert statuses(shop, ready, unpacked) == ["packed", "accepted"]
    assert shop.fetch(ready["id"])["shipment_id"] is None
    assert_error(ship(shop, [ready["id"], 999_999]), 404)
    assert statuses(shop, ready) == ["packed"]


def test_one_buyer_one_address(shop: Shop) -> None:
    mine, theirs = packed(shop), packed(shop, shop.other)
    assert_error(ship(shop, [mine["id"], theirs["id"]]), 409, "not_shippable_together")
    elsewhere = packed(shop, shipping={**SHIPPING, "line1": "1 Other Road"})
    assert_error(ship(shop, [mine["id"], elsewhere["id"]]), 409, "not_shippable_together")
    assert statuses(shop, mine, theirs, elsewhere) == ["packed", "packed", "packed"]
    assert ship(shop, [mine["id"]]).status_code == 201  # one order is a shipment too


def test_bad_requests(shop: Shop) -> None:
    order = packed(shop)
    for body_ids, extra in (([], {}), ([order["id"], order["id"]], {}), (["x"], {}),
                            ([order["id"]], {"carrier": ""}),
                            ([order["id"]], {"tracking_number": "a\nb"})):  # fmt: skip
        assert_error(ship(shop, body_ids, **extra), 422, "validation_error")
    assert_error(ship(shop, [order["id"]], shop.buyer), 403)
    assert statuses(shop, order) == ["packed"]


def test_a_cancel_by_staff_keeps_its_reason_in_the_history(shop: Shop) -> None:
    order = packed(shop)
    resp = shop.transition(shop.staff, order["id"], "cancelled", note="Damaged on the shelf")
    assert resp.status_code == 200, resp.text
    last = resp.json()["order"]["history"][-1]
    assert (last["status"], last["by"], last["note"]) == ("cancelled", "staff",
                                                           "Damaged on the shelf")  # fmt: skip
    assert resp.json()["order"]["history"][0]["note"] is None
    too_long = shop.transition(shop.staff, packed(shop)["id"], "cancelled", note="x" * 501)
    assert_error(too_long, 422, "validation_error")
