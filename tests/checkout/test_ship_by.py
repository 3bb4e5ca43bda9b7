"""Ship-by dates and the board's search (contract: Fulfillment v2): every order gets
``ship_by`` (placement + 2 business days) and ``late``; ``GET /api/fulfillment/orders``
finds late orders (``late=true``) and orders by id, buyer or tracking number (``q``);
``/metrics`` counts late orders. SQLite and PostgreSQL, through the app."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from checkout.models import Order
from checkout.sla import Calendar
from common.times import utcnow
from tests.http_helpers import assert_error
from tests.order_helpers import Shop


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def set_ship_by(shop: Shop, order_id: int, when: datetime) -> None:
    state = shop.client.app.state.livecart  # type: ignore[attr-defined]

    async def write() -> None:
        async with state.db.write() as session:
            await session.exec(
                update(Order).where(col(Order.id) == order_id).values(ship_by=when)  # type: ignore[call-overload]
            )

    assert shop.client.portal is not None
    shop.client.portal.call(write)


def board(shop: Shop, query: str) -> Any:
    return shop.client.get(f"/api/fulfillment/orders?{query}", headers=shop.api.auth(shop.staff))


def ids(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [o["id"] for o in resp.json()["orders"]]


def test_every_order_is_due_two_business_days_after_placement(shop: Shop) -> None:
    order = shop.place()
    placed = parse(order["created_at"])
    assert parse(order["ship_by"]) == Calendar(2, "US").ship_by(placed)
    assert order["late"] is False
    assert shop.fetch(order["id"])["ship_by"] == order["ship_by"]


def test_late_orders_on_the_board_and_in_metrics(shop: Shop) -> None:
    late, on_time, shipped_late = shop.accepted(), shop.accepted(), shop.accepted()
    past = utcnow() - timedelta(hours=1)
    set_ship_by(shop, late["id"], past)
    set_ship_by(shop, shipped_late["id"], past)
    shop.move(shipped_late["id"], "picking", "packed", "shipped")
    assert shop.fetch(late["id"])["late"] is True
    assert shop.fetch(on_time["id"])["late"] is False
    assert shop.fetch(shipped_late["id"])["late"] is True  # shipped after its ship-by
    assert ids(board(shop, "late=true")) == [late["id"]]  # what still has to go out
    assert set(ids(board(shop, "late=false"))) >= {late["id"], on_time["id"]}
    assert ids(board(shop, "late=true&status=picking")) == []
    metrics = shop.client.get("/metrics").text
    assert "livecart_orders_late 1.0" in metrics, metrics
    assert_error(board(shop, "late=maybe"), 422, "validation_error")


def test_search_by_id_buyer_or_tracking(shop: Shop) -> None:
    mine = shop.accepted()
    theirs = shop.accepted(shop.other)
    shop.move(theirs["id"], "picking", "packed")
    shipped = shop.transition(shop.staff, theirs["id"], "shipped", carrier="UPS",
                              tracking_number="1ZTRACK42")  # fmt: skip
    assert shipped.status_code == 200, shipped.text
    assert ids(board(shop, f"q={mine['id']}")) == [mine["id"]]
    assert ids(board(shop, "q=other")) == [theirs["id"]]  # the buyer's username
    assert ids(board(shop, "q=OTHER")) == [theirs["id"]]
    assert ids(board(shop, "q=1ZTRACK42")) == [theirs["id"]]
    assert ids(board(shop, "q=nobody_at_all")) == []
    assert ids(board(shop, "q=buyer&status=accepted")) == [mine["id"]]
    assert_error(board(shop, "q=" + "x" * 65), 422, "validation_error")
    refused = shop.client.get("/api/fulfillment/orders?q=1", headers=shop.api.auth(shop.buyer))
    assert_error(refused, 403)
