"""Returns with an RMA (contract: Fulfillment v2): a reason from a fixed list and a note,
an RMA code, and the condition the unit came back in — only a resellable one goes back
to stock (and to a waiting buyer first), exactly once; a damaged one does not. v1's free
text reason still works. SQLite and PostgreSQL, through the app."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_helpers import assert_error
from tests.order_helpers import Shop

TO_DELIVERED = ("picking", "packed", "shipped", "delivered")


def delivered(shop: Shop, quantity: int = 1) -> dict[str, Any]:
    order = shop.accepted(quantity=quantity)
    return shop.move(order["id"], *TO_DELIVERED)


def ask(shop: Shop, order_id: int, body: dict[str, Any]) -> Any:
    return shop.client.post(f"/api/orders/{order_id}/return", json=body,
                            headers=shop.api.auth(shop.buyer))  # fmt: skip


def test_a_return_gets_an_rma_with_its_reason_and_note(shop: Shop) -> None:
    order = delivered(shop)
    resp = ask(shop, order["id"], {"reason": "damaged", "note": "Chipped rim\non arrival"})
    assert resp.status_code == 200, resp.text
    got = resp.json()["order"]
    assert got["status"] == "return_requested"
    assert got["return"] == {"rma": f"RMA-{order['id']:06d}", "reason": "damaged",
                             "note": "Chipped rim\non arrival", "condition": None}  # fmt: skip
    assert got["return_reason"] == "Chipped rim\non arrival"  # v1's field: the buyer's words
    assert shop.fetch(order["id"])["return"]["rma"] == f"RMA-{order['id']:06d}"


def test_a_v1_reason_in_the_buyers_words_is_the_note_of_other(shop: Shop) -> None:
    order = delivered(shop)
    got = ask(shop, order["id"], {"reason": "too small"}).json()["order"]
    assert got["return"] == {"rma": f"RMA-{order['id']:06d}", "reason": "other",
                             "note": "too small", "condition": None}  # fmt: skip
    assert got["return_reason"] == "too small"
    plain = delivered(shop)
    coded = ask(shop, plain["id"], {"reason": "changed_mind"}).json()["order"]
    assert coded["return"]["reason"] == "changed_mind" and coded["return"]["note"] is None


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": 3}, {"reason": "damaged", "note": "x" * 501},
     {"reason": "damaged", "note": 7}, {"reason": "damaged", "note": "a\x00b"}],
)  # fmt: skip
def test_bad_return_requests_write_nothing(shop: Shop, body: dict[str, Any]) -> None:
    order = delivered(shop)
    assert_error(ask(shop, order["id"], body), 422, "validation_error")
    after = shop.fetch(order["id"])
    assert after["status"] == "delivered" and after["return"] is None


@pytest.mark.parametrize(("condition", "back"), [("resellable", 2), ("damaged", 0), (None, 2)])
def test_only_resellable_units_go_back_to_stock(
    shop: Shop, condition: str | None, back: int
) -> None:
    order = delivered(shop, quantity=2)
    ask(shop, order["id"], {"reason": "wrong_item"})
    before = shop.stock()
    extra = {} if condition is None else {"condition": condition}
    resp = shop.transition(shop.staff, order["id"], "returned", **extra)
    assert resp.status_code == 200, resp.text
    got = resp.json()["order"]
    assert got["return"]["condition"] == (condition or "resellable")  # v1: resellable
    assert shop.stock() == before + back
    refunded = shop.transition(shop.staff, order["id"], "refunded").json()["order"]
    assert refunded["payment_status"] == "refunded"  # the refund follows either way
    assert shop.stock() == before + back  # exactly once


def test_a_bad_condition_is_refused(shop: Shop) -> None:
    order = delivered(shop)
    ask(shop, order["id"], {"reason": "damaged"})
    resp = shop.transition(shop.staff, order["id"], "returned", condition="broken")
    assert_error(resp, 422, "validation_error")
    assert shop.fetch(order["id"])["status"] == "return_requested"


def test_a_resellable_return_goes_to_the_waitlist_first(shop: Shop) -> None:
    order = delivered(shop)
    shop.client.patch(f"/api/products/{shop.pid}", json={"stock": 0},
                      headers=shop.api.auth(shop.owner))  # fmt: skip
    waiter = shop.other
    auth = shop.api.auth(waiter)
    address = {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
               "postal_code": "12345", "country": "US"}  # fmt: skip
    assert shop.client.put("/api/me/address", json=address, headers=auth).status_code == 200
    card = shop.client.put("/api/me/payment-method", json={"token": "tok_visa"}, headers=auth)
    assert card.status_code == 200
    joined = shop.client.post(f"/api/products/{shop.pid}/waitlist", headers=auth)
    assert joined.status_code == 201, joined.text
    ask(shop, order["id"], {"reason": "changed_mind"})
    shop.transition(shop.staff, order["id"], "returned", condition="resellable")
    mine = shop.client.get("/api/orders", headers=auth).json()["orders"]
    assert [(o["source"], o["quantity"]) for o in mine] == [("waitlist", 1)]
    assert shop.stock() == 0  # the unit went to the waiting buyer, not back on sale
