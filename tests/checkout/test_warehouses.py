"""Warehouses and inventory (contract: Fulfillment v2), through the app on SQLite and
PostgreSQL: admin-managed warehouses, units per product per warehouse, each order
allocated at placement to one warehouse that has all its units (the shipping country
first), and the figures moving with every status change — the product's ``stock``
always the sum of what each warehouse can still sell."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app import migrate
from app.db import make_engine
from checkout.sla import Calendar
from tests.http_helpers import assert_error
from tests.migration_helpers import old_product, on_scratch_database
from tests.order_helpers import SHIPPING, Shop

TO_PACKED = ("picking", "packed")
IN_GERMANY = {**SHIPPING, "city": "Berlin", "postal_code": "10115", "country": "DE"}
IN_FRANCE = {**SHIPPING, "city": "Paris", "postal_code": "75001", "country": "FR"}


def add_warehouse(shop: Shop, code: str, country: str, who: Any = None) -> Any:
    body = {"code": code, "name": f"{code} warehouse", "country": country}
    return shop.client.post("/api/warehouses", json=body,
                            headers=shop.api.auth(who or shop.admin))  # fmt: skip


def put(shop: Shop, code: str, on_hand: Any, who: Any = None, product_id: Any = None) -> Any:
    pid = shop.pid if product_id is None else product_id
    return shop.client.put(f"/api/products/{pid}/inventory/{code}", json={"on_hand": on_hand},
                           headers=shop.api.auth(who or shop.owner))  # fmt: skip


def figures(shop: Shop) -> dict[str, tuple[int, int]]:
    """warehouse -> (on_hand, allocated); checks the stock is what they can sell."""
    resp = shop.client.get(f"/api/products/{shop.pid}/inventory",
                           headers=shop.api.auth(shop.staff))  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    lines = {line["warehouse"]: (line["on_hand"], line["allocated"]) for line in body["inventory"]}
    sellable = sum(on_hand - allocated for on_hand, allocated in lines.values())
    assert body["stock"] == sellable == shop.stock(), (body, shop.stock())
    return lines


def two_warehouses(shop: Shop, main: int = 10, berlin: int = 5) -> None:
    """MAIN (US) with ``main`` units, BER (DE) with ``berlin``."""
    assert add_warehouse(shop, "BER", "DE").status_code == 201
    assert put(shop, "MAIN", main).status_code == 200
    assert put(shop, "BER", berlin).status_code == 200


def test_main_always_exists_and_admins_add_warehouses(shop: Shop) -> None:
    listed = shop.client.get("/api/warehouses", headers=shop.api.auth(shop.buyer))
    assert listed.status_code == 200
    assert [(w["code"], w["country"]) for w in listed.json()["warehouses"]] == [("MAIN", "US")]
    resp = add_warehouse(shop, "BER-1", "DE")
    assert resp.status_code == 201, resp.text
    assert resp.json()["warehouse"] | {"created_at": None} == {
        "code": "BER-1", "name": "BER-1 warehouse", "country": "DE", "created_at": None,
    }  # fmt: skip
    assert_error(add_warehouse(shop, "BER-1", "FR"), 409, "warehouse_exists")
    for who in (shop.staff, shop.owner, shop.buyer):
        assert_error(add_warehouse(shop, "LYS", "FR", who), 403, "forbidden")
    assert_error(add_warehouse(shop, "ber", "DE"), 422, "validation_error")
    assert_error(add_warehouse(shop, "X" * 17, "DE"), 422, "validation_error")
    assert_error(add_warehouse(shop, "LYS", "XX"), 422, "validation_error")
    codes = [w["code"] for w in shop.client.get(
        "/api/warehouses", headers=shop.api.auth(shop.buyer)).json()["warehouses"]]  # fmt: skip
    assert codes == ["MAIN", "BER-1"]
    assert shop.client.get("/api/warehouses").status_code == 401


def test_inventory_is_set_per_warehouse_and_stock_is_the_sum(shop: Shop) -> None:
    assert figures(shop) == {"MAIN": (10, 0)}  # v1 stock at creation: MAIN's shelf
    two_warehouses(shop, main=4, berlin=6)
    resp = put(shop, "BER", 7, who=shop.staff)
    assert resp.status_code == 200, resp.text
    assert resp.json()["inventory"] == [
        {"warehouse": "BER", "on_hand": 7, "allocated": 0},
        {"warehouse": "MAIN", "on_hand": 4, "allocated": 0},
    ]
    assert figures(shop) == {"MAIN": (4, 0), "BER": (7, 0)}
    assert shop.stock() == 11
    assert_error(put(shop, "BER", 1, who=shop.buyer), 403, "forbidden")
    assert_error(put(shop, "BER", 1, who=shop.rival), 403, "forbidden")
    assert put(shop, "ber", 7).status_code == 200  # a code in any case
    assert_error(put(shop, "NOPE", 1), 404, "unknown_warehouse")
    assert_error(put(shop, "nope!", 1), 404, "unknown_warehouse")
    assert_error(put(shop, "BER", -1), 422, "validation_error")
    assert_error(put(shop, "BER", 1, product_id=999_999), 404, "not_found")
    assert figures(shop) == {"MAIN": (4, 0), "BER": (7, 0)}


def test_v1_stock_writes_go_to_main(shop: Shop) -> None:
    two_warehouses(shop, main=4, berlin=6)
    resp = shop.client.patch(f"/api/products/{shop.pid}", json={"stock": 8},
                             headers=shop.api.auth(shop.owner))  # fmt: skip
    assert resp.status_code == 200 and resp.json()["product"]["stock"] == 8, resp.text
    assert figures(shop) == {"MAIN": (2, 0), "BER": (6, 0)}
    # Below what the other warehouses hold: MAIN cannot go negative.
    resp = shop.client.patch(f"/api/products/{shop.pid}", json={"stock": 5},
                             headers=shop.api.auth(shop.owner))  # fmt: skip
    assert_error(resp, 409, "stock_elsewhere")
    assert figures(shop) == {"MAIN": (2, 0), "BER": (6, 0)}


def test_orders_prefer_the_shipping_country_then_the_most_units(shop: Shop) -> None:
    two_warehouses(shop, main=10, berlin=5)
    german = shop.place(shipping=IN_GERMANY)
    assert german["warehouse"] == "BER"
    british = shop.place()  # GB: no warehouse there; MAIN has the most units
    assert british["warehouse"] == "MAIN"
    french = shop.place(quantity=2, shipping=IN_FRANCE)
    assert french["warehouse"] == "MAIN"
    assert figures(shop) == {"MAIN": (10, 3), "BER": (5, 1)}
    board = shop.client.get("/api/fulfillment/orders?warehouse=ber",
                            headers=shop.api.auth(shop.staff)).json()["orders"]  # fmt: skip
    assert [o["id"] for o in board] == [german["id"]]
    ship_by = datetime.fromisoformat(german["ship_by"])
    placed = datetime.fromisoformat(german["created_at"])
    assert ship_by == Calendar(2, "DE").ship_by(placed)  # the warehouse's country's days


def test_orders_fall_back_to_a_warehouse_that_has_them_all(shop: Shop) -> None:
    two_warehouses(shop, main=3, berlin=1)
    assert shop.place(quantity=2, shipping=IN_GERMANY)["warehouse"] == "MAIN"  # BER has 1
    assert shop.place(shipping=IN_GERMANY)["warehouse"] == "BER"
    assert shop.place(shipping=IN_GERMANY)["warehouse"] == "MAIN"  # BER has none left
    assert figures(shop) == {"MAIN": (3, 3), "BER": (1, 1)}
    assert_error(shop.order(shop.buyer, shipping=IN_GERMANY), 409, "insufficient_stock")


def test_an_order_is_never_split_over_warehouses(shop: Shop) -> None:
    two_warehouses(shop, main=2, berlin=2)
    error = assert_error(shop.order(shop.buyer, quantity=3), 409, "insufficient_stock")
    assert error["message"] == "at most 2 ship together from one warehouse"
    error = assert_error(shop.order(shop.buyer, quantity=5), 409, "insufficient_stock")
    assert error["message"] == "only 4 left"
    assert figures(shop) == {"MAIN": (2, 0), "BER": (2, 0)}


def test_shipping_cancelling_and_returns_move_their_warehouse(shop: Shop) -> None:
    two_warehouses(shop, main=5, berlin=5)
    shipped = shop.accepted(shipping=IN_GERMANY)
    cancelled = shop.place(shipping=IN_GERMANY)
    assert figures(shop) == {"MAIN": (5, 0), "BER": (5, 2)}
    shop.move(shipped["id"], *TO_PACKED, "shipped")
    assert figures(shop) == {"MAIN": (5, 0), "BER": (4, 1)}  # left the shelf
    assert shop.cancel(shop.buyer, cancelled["id"]).status_code == 200
    assert figures(shop) == {"MAIN": (5, 0), "BER": (4, 0)}  # sellable again
    shop.move(shipped["id"], "delivered")
    assert shop.give_back(shop.buyer, shipped["id"]).status_code == 200
    shop.move(shipped["id"], "returned")  # resellable: back on the shelf it left
    assert figures(shop) == {"MAIN": (5, 0), "BER": (5, 0)}
    damaged = shop.accepted(shipping=IN_GERMANY)
    shop.move(damaged["id"], *TO_PACKED, "shipped", "delivered")
    assert shop.give_back(shop.buyer, damaged["id"]).status_code == 200
    resp = shop.transition(shop.staff, damaged["id"], "returned", condition="damaged")
    assert resp.status_code == 200, resp.text
    assert figures(shop) == {"MAIN": (5, 0), "BER": (4, 0)}


def test_on_hand_cannot_go_below_what_is_allocated(shop: Shop) -> None:
    two_warehouses(shop, main=0, berlin=3)
    shop.place(quantity=2, shipping=IN_GERMANY)
    assert_error(put(shop, "BER", 1), 409, "below_allocated")
    assert put(shop, "BER", 2).status_code == 200
    assert figures(shop) == {"MAIN": (0, 0), "BER": (2, 2)}
    assert shop.stock() == 0


def test_new_units_go_to_the_waitlist_first(shop: Shop) -> None:
    two_warehouses(shop, main=0, berlin=0)
    auth = shop.api.auth(shop.buyer)
    assert shop.client.put("/api/me/address", json=IN_GERMANY, headers=auth).status_code == 200
    card = shop.client.put("/api/me/payment-method", json={"token": "tok_visa"}, headers=auth)
    assert card.status_code == 200, card.text
    joined = shop.client.post(f"/api/products/{shop.pid}/waitlist", json={"quantity": 1},
                              headers=shop.api.auth(shop.buyer))  # fmt: skip
    assert joined.status_code in (200, 201), joined.text
    assert put(shop, "BER", 2).status_code == 200
    orders = shop.all_orders()
    assert [(o["source"], o["warehouse"]) for o in orders] == [("waitlist", "BER")]
    assert figures(shop) == {"MAIN": (0, 0), "BER": (2, 1)}


def test_shipments_ship_from_one_warehouse(shop: Shop) -> None:
    two_warehouses(shop, main=5, berlin=1)
    there = shop.accepted(shipping=IN_GERMANY)
    here = shop.accepted(shipping=IN_GERMANY)  # BER has none left: from MAIN
    assert (there["warehouse"], here["warehouse"]) == ("BER", "MAIN")
    shop.move(here["id"], *TO_PACKED)
    shop.move(there["id"], *TO_PACKED)
    body = {"order_ids": [here["id"], there["id"]], "carrier": "UPS", "tracking_number": "1Z"}
    resp = shop.client.post("/api/fulfillment/shipments", json=body,
                            headers=shop.api.auth(shop.staff))  # fmt: skip
    error = assert_error(resp, 409, "not_shippable_together")
    assert "warehouses" in error["message"]
    assert [shop.fetch(o["id"])["status"] for o in (here, there)] == ["packed", "packed"]


# ---- migration 0015


async def _backfilled(url: str) -> tuple[list[Any], list[Any]]:
    """A product with orders in several states written at revision 0014, read back after
    upgrading: (inventory rows, order warehouses)."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        await migrate.upgrade(engine, "0014")
        async with engine.begin() as conn:
            await old_product(conn, now, stock=5)
            for status, quantity in (("placed", 1), ("packed", 2), ("shipped", 3)):
                await conn.execute(text(
                    "INSERT INTO orders (buyer_id, product_id, quantity, unit_price_cents, "
                    "total_cents, currency, status, payment_status, payment_ref, shipping, "
                    "restocked, source, created_at, updated_at) VALUES (1, 1, :q, 100, 100, "
                    "'USD', :status, 'authorized', '', '{}', :no, 'direct', :now, :now)"),
                    {"q": quantity, "status": status, "now": now, "no": False})  # fmt: skip
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            query = "SELECT product_id, warehouse, on_hand, allocated FROM inventory"
            rows = (await conn.execute(text(query))).all()
            where = (await conn.execute(text("SELECT DISTINCT warehouse FROM orders"))).all()
    finally:
        await engine.dispose()
    return [tuple(r) for r in rows], [tuple(r) for r in where]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_puts_every_product_on_mains_shelf(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # stock 5, and 1 + 2 units promised to orders not shipped yet: 8 on the shelf.
    expected = ([(1, "MAIN", 8, 3)], [("MAIN",)])
    assert on_scratch_database(backend, tmp_path, request, _backfilled) == expected
