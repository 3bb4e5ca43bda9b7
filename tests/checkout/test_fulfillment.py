"""The order status machine, cancellations, returns and live stats (contract: Orders,
Fulfillment, Lives → stats), through the ASGI app, on SQLite and PostgreSQL.

placed → accepted (queue only) → picking → packed → shipped (carrier and tracking
number) → delivered → return_requested → returned (restock) → refunded; cancelled
from placed|accepted|picking|packed (restock). Payment: authorized → captured at
shipped → refunded; voided on cancel. Units come back exactly once.
"""

from __future__ import annotations

from tests.order_helpers import (
    Shop,
    error_code,
    statuses,
)


def payment_calls(shop: Shop) -> list[str]:
    payments = shop.client.app.state.livecart.payments  # type: ignore[attr-defined]
    return [call for call, _ref in payments.calls]


def test_the_whole_journey_with_payment_and_one_restock(shop: Shop) -> None:
    order = shop.accepted(quantity=3)
    assert shop.stock() == 7
    oid = order["id"]
    order = shop.move(oid, "picking", "packed")
    assert (order["payment_status"], order["tracking"]) == ("authorized", None)

    # Shipping needs both a carrier and a tracking number.
    for extra in ({}, {"carrier": "UPS"}, {"tracking_number": "1Z999"}, {"carrier": ""}):
        resp = shop.transition(shop.staff, oid, "shipped", **extra)
        assert error_code(resp, 422) in ("validation_error", "tracking_required"), extra
    assert shop.fetch(oid)["status"] == "packed"

    order = shop.move(oid, "shipped")
    assert order["tracking"] == {"carrier": "UPS", "tracking_number": "1Z999"}
    assert order["payment_status"] == "captured"
    order = shop.move(oid, "delivered")
    assert order["payment_status"] == "captured"
    assert shop.stock() == 7

    resp = shop.give_back(shop.buyer, oid, "wrong colour")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"order"}
    order = resp.json()["order"]
    assert order["status"] == "return_requested"
    assert order.get("return_reason", "wrong colour") == "wrong colour"
    assert shop.stock() == 7  # not back until it is returned

    order = shop.move(oid, "returned")
    assert shop.stock() == 10
    assert order["payment_status"] == "captured"
    resp = shop.transition(shop.staff, oid, "returned")
    assert error_code(resp, 409) == "invalid_transition"
    order = shop.move(oid, "refunded")
    assert order["payment_status"] == "refunded"
    assert shop.stock() == 10  # exactly once

    assert [(h["status"], h["by"]) for h in order["history"]] == [
        ("placed", "buyer"),
        ("accepted", "fulfillment"),
        ("picking", "staff"),
        ("packed", "staff"),
        ("shipped", "staff"),
        ("delivered", "staff"),
        ("return_requested", "buyer"),
        ("returned", "staff"),
        ("refunded", "staff"),
    ]
    assert order == shop.fetch(oid)
    assert payment_calls(shop) == ["authorize", "capture", "refund"]
    # Nothing leaves refunded.
    for to in ("picking", "delivered", "returned", "cancelled", "placed", "refunded"):
        resp = shop.transition(shop.staff, oid, to)
        assert error_code(resp, 409) == "invalid_transition", to
    assert shop.fetch(oid)["status"] == "refunded"


def test_who_may_move_an_order(shop: Shop) -> None:
    oid = shop.accepted()["id"]
    for who, status, code in (
        (None, 401, "authentication_required"),
        (shop.buyer, 403, "forbidden"),
        (shop.other, 403, "forbidden"),
        (shop.owner, 403, "forbidden"),
        (shop.rival, 403, "forbidden"),
    ):
        resp = shop.transition(who, oid, "picking")
        assert error_code(resp, status) == code
    assert statuses(shop.fetch(oid)) == ["placed", "accepted"]
    resp = shop.transition(shop.admin, oid, "picking")  # admin passes every rule
    assert resp.status_code == 200, resp.text
    assert error_code(shop.transition(shop.staff, 999_999, "packed"), 404) == "not_found"


def test_illegal_transitions_are_refused(shop: Shop) -> None:
    oid = shop.accepted()["id"]
    ship = {"carrier": "UPS", "tracking_number": "1Z999"}
    for to, extra in (
        ("shipped", ship),
        ("delivered", {}),
        ("packed", {}),
        ("return_requested", {}),
        ("returned", {}),
        ("refunded", {}),
        ("placed", {}),
        ("accepted", {}),  # only the queue accepts
    ):
        resp = shop.transition(shop.staff, oid, to, **extra)
        assert error_code(resp, 409) == "invalid_transition", to
    for bad in ("lost", "", "ACCEPTED", 5, None):
        resp = shop.transition(shop.staff, oid, bad)
        assert error_code(resp, 422) == "validation_error", bad
    resp = shop.client.post(
        f"/api/fulfillment/orders/{oid}/transition", json={}, headers=shop.api.auth(shop.staff)
    )
    assert error_code(resp, 422) == "validation_error"
    order = shop.fetch(oid)
    assert statuses(order) == ["placed", "accepted"]

    shop.move(oid, "picking", "packed", "shipped", "delivered")
    for to in ("picking", "packed", "shipped", "cancelled", "accepted", "returned"):
        resp = shop.transition(shop.staff, oid, to, **ship)
        assert error_code(resp, 409) == "invalid_transition", to

    cancelled = shop.accepted()["id"]
    assert shop.cancel(shop.buyer, cancelled).status_code == 200
    for to in ("accepted", "picking", "packed", "shipped", "delivered", "cancelled", "refunded"):
        resp = shop.transition(shop.staff, cancelled, to, **ship)
        assert error_code(resp, 409) == "invalid_transition", to
    assert shop.fetch(cancelled)["status"] == "cancelled"
    assert payment_calls(shop).count("capture") == 1


def test_cancel_restocks_exactly_once(shop: Shop) -> None:
    order = shop.accepted(quantity=4)
    assert shop.stock() == 6
    for who, status, code in (
        (None, 401, "authentication_required"),
        (shop.other, 404, "not_found"),
        (shop.rival, 404, "not_found"),
        (shop.owner, 403, "forbidden"),  # sees it, may not cancel it
    ):
        assert error_code(shop.cancel(who, order["id"]), status) == code
    assert shop.stock() == 6

    resp = shop.cancel(shop.buyer, order["id"])
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"order"}
    cancelled = resp.json()["order"]
    assert (cancelled["status"], cancelled["payment_status"]) == ("cancelled", "voided")
    assert cancelled["history"][-1]["by"] == "buyer"
    assert shop.stock() == 10
    for who in (shop.buyer, shop.staff):
        assert error_code(shop.cancel(who, order["id"]), 409) == "invalid_transition"
    assert shop.stock() == 10
    assert statuses(shop.fetch(order["id"])) == ["placed", "accepted", "cancelled"]
    assert error_code(shop.cancel(shop.buyer, 999_999), 404) == "not_found"

    # Staff may cancel up to packed; after shipping nobody can.
    for steps in ((), ("picking",), ("picking", "packed")):
        oid = shop.accepted(quantity=2)["id"]
        shop.move(oid, *steps)
        assert shop.stock() == 8
        resp = shop.cancel(shop.staff, oid)
        assert resp.status_code == 200, (steps, resp.text)
        assert resp.json()["order"]["history"][-1]["by"] == "staff"
        assert shop.stock() == 10
    oid = shop.accepted(quantity=2)["id"]
    shop.move(oid, "picking", "packed", "shipped")
    for who in (shop.buyer, shop.staff):
        assert error_code(shop.cancel(who, oid), 409) == "invalid_transition"
    shop.move(oid, "delivered")
    assert error_code(shop.cancel(shop.buyer, oid), 409) == "invalid_transition"
    assert shop.stock() == 8
    assert payment_calls(shop).count("void") == 4


def test_returns_are_for_the_buyer_after_delivery(shop: Shop) -> None:
    oid = shop.accepted(quantity=2)["id"]
    for steps in ((), ("picking", "packed"), ("shipped",)):
        shop.move(oid, *steps)
        assert error_code(shop.give_back(shop.buyer, oid), 409) == "invalid_transition", steps
    shop.move(oid, "delivered")
    assert error_code(shop.give_back(shop.staff, oid), 403) == "forbidden"
    assert error_code(shop.give_back(shop.owner, oid), 403) == "forbidden"
    assert error_code(shop.give_back(shop.other, oid), 404) == "not_found"
    assert error_code(shop.give_back(None, oid), 401) == "authentication_required"
    for reason in (None, "", 42, "a" * 501, "bad\x00"):
        assert error_code(shop.give_back(shop.buyer, oid, reason), 422) == "validation_error"
    assert shop.fetch(oid)["status"] == "delivered"

    resp = shop.give_back(shop.buyer, oid, "arrived broken")
    assert resp.status_code == 200, resp.text
    assert resp.json()["order"]["status"] == "return_requested"
    assert error_code(shop.give_back(shop.buyer, oid, "again"), 409) == "invalid_transition"
    assert shop.stock() == 8
    shop.move(oid, "returned")
    assert shop.stock() == 10
    assert error_code(shop.give_back(shop.buyer, oid), 409) == "invalid_transition"
    order = shop.move(oid, "refunded")
    assert order["payment_status"] == "refunded"
    assert shop.stock() == 10


def test_stats_count_orders_units_and_revenue(shop: Shop) -> None:
    live = shop.live()
    lid = live["id"]
    cap = shop.api.product(shop.owner, title="Cap", price_cents=2500, stock=10)
    path = f"/api/lives/{lid}/stats"
    stats = shop.client.get(path, headers=shop.api.auth(shop.owner)).json()
    assert (stats["orders"], stats["units"], stats["revenue_cents"], stats["pins"]) == (0, 0, 0, [])

    shop.pin(lid, price_cents=500, quantity=10, duration_s=600)  # the mug, on a deal
    a = shop.place(shop.buyer, 2, live_id=lid)  # 2 × 500
    b = shop.place(shop.other, 1, live_id=lid)  # 1 × 500
    dropped = shop.place(shop.other, 3, live_id=lid)
    assert shop.cancel(shop.other, dropped["id"]).status_code == 200
    shop.place(shop.buyer, 4)  # not through the live: not counted
    shop.pin(lid, cap["id"])  # replaces the mug
    c = shop.place(shop.buyer, 3, live_id=lid, product_id=cap["id"])  # 3 × 2500
    assert [o["unit_price_cents"] for o in (a, b, c)] == [500, 500, 2500]

    for who in (shop.owner, shop.admin):
        resp = shop.client.get(path, headers=shop.api.auth(who))
        assert resp.status_code == 200, resp.text
        stats = resp.json()
        assert (stats["orders"], stats["units"], stats["revenue_cents"]) == (3, 6, 9000)
        assert [(p["product_id"], p["orders"], p["units"]) for p in stats["pins"]] == [
            (shop.pid, 2, 3),
            (cap["id"], 1, 3),
        ]
    for who, status in ((shop.buyer, 403), (shop.staff, 403), (None, 401)):
        assert shop.client.get(path, headers=shop.api.auth(who)).status_code == status
