"""Checkout profile (contract: Checkout profile; Orders): the saved address and payment
method, GET /api/me with them, orders that omit shipping or use the saved card, the
order's ``source``, and migration 0006's backfill. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app import migrate
from app.db import make_engine
from checkout import profile
from checkout.payments import TestPaymentProvider
from tests.http_helpers import assert_error
from tests.migration_helpers import old_product, on_scratch_database
from tests.order_helpers import SHIPPING, Shop, check_order, fresh_key, order_body

HOME = {"name": "Grace Hopper", "line1": "1 Navy Way", "city": "Arlington",
        "postal_code": "22201", "country": "US"}  # fmt: skip


def put_address(shop: Shop, who: Any, body: Any) -> Any:
    return shop.client.put("/api/me/address", json=body, headers=shop.api.auth(who))


def put_token(shop: Shop, who: Any, token: Any) -> Any:
    return shop.client.put(
        "/api/me/payment-method", json={"token": token}, headers=shop.api.auth(who)
    )


def me(shop: Shop, who: Any) -> dict[str, Any]:
    resp = shop.client.get("/api/me", headers=shop.api.auth(who))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert set(body) == {"user", "address", "payment_method"}, body
    assert body["user"] == who["user"]
    return body


def saved(shop: Shop, who: Any) -> profile.Profile:
    """The stored profile, read straight from the database."""
    state = shop.client.app.state.livecart  # type: ignore[attr-defined]

    async def read() -> profile.Profile:
        async with state.db.read() as session:
            return await profile.read_profile(session, who["user"]["id"])

    assert shop.client.portal is not None
    return shop.client.portal.call(read)


def my_orders(shop: Shop, who: Any) -> list[dict[str, Any]]:
    resp = shop.client.get("/api/orders", headers=shop.api.auth(who))
    assert resp.status_code == 200, resp.text
    orders: list[dict[str, Any]] = resp.json()["orders"]
    return orders


def order_without_shipping(shop: Shop, who: Any, key: str, **extra: Any) -> Any:
    body = {"product_id": shop.pid, "quantity": 1, **extra}
    headers = {**shop.api.auth(who), "Idempotency-Key": key}
    return shop.client.post("/api/orders", json=body, headers=headers)


# ---- the profile


def test_me_is_empty_until_saved_then_shows_both(shop: Shop) -> None:
    assert me(shop, shop.buyer) == {"user": shop.buyer["user"], "address": None,
                                     "payment_method": None}  # fmt: skip
    resp = put_address(shop, shop.buyer, HOME)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"address": HOME}
    assert me(shop, shop.buyer)["payment_method"] is None
    resp = put_token(shop, shop.buyer, "tok_visa")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"payment_method": {"brand": "visa", "last4": "4242"}}
    visa = {"brand": "visa", "last4": "4242"}
    assert me(shop, shop.buyer) == {"user": shop.buyer["user"], "address": HOME,
                                     "payment_method": visa}  # fmt: skip
    # One buyer's profile is theirs alone.
    assert me(shop, shop.other)["address"] is None
    assert saved(shop, shop.buyer).complete and not saved(shop, shop.other).complete


def test_saving_again_overwrites_and_keeps_the_other_half(shop: Shop) -> None:
    assert put_token(shop, shop.buyer, "tok_visa").status_code == 200
    assert put_address(shop, shop.buyer, HOME).status_code == 200
    assert put_address(shop, shop.buyer, SHIPPING).json() == {"address": SHIPPING}
    first = saved(shop, shop.buyer).method
    resp = put_token(shop, shop.buyer, "tok_declined")
    assert resp.json() == {"payment_method": {"brand": "visa", "last4": "0002"}}
    now = saved(shop, shop.buyer)
    assert now.address == SHIPPING
    assert first is not None and now.method is not None
    # The provider's customer is reused; the method is new.
    assert now.method.customer_ref == first.customer_ref
    assert now.method.method_ref != first.method_ref
    assert me(shop, shop.buyer)["payment_method"] == {"brand": "visa", "last4": "0002"}


BAD_ADDRESSES = [
    *((f"no {k}", k, None) for k in HOME),
    ("empty name", "name", ""),
    ("name too long", "name", "x" * 201),
    ("newline in line1", "line1", "1\nNavy Way"),
    ("NUL in city", "city", "Arl\x00ington"),
    ("numeric postal code", "postal_code", 22201),
    ("country lower case", "country", "us"),
    ("country three letters", "country", "USA"),
    ("country null", "country", None),
]


@pytest.mark.parametrize(
    ("case", "field", "value"), [pytest.param(*c, id=c[0]) for c in BAD_ADDRESSES]
)
def test_each_bad_address_field_is_422_and_saves_nothing(
    shop: Shop, case: str, field: str, value: Any
) -> None:
    assert put_address(shop, shop.buyer, HOME).status_code == 200
    body = {k: v for k, v in SHIPPING.items() if not (k == field and case.startswith("no "))}
    if not case.startswith("no "):
        body[field] = value
    error = assert_error(put_address(shop, shop.buyer, body), 422, "validation_error")
    assert field in error["fields"], error
    assert me(shop, shop.buyer)["address"] == HOME


@pytest.mark.parametrize("body", [None, [], "HOME", {"address": HOME}], ids=str)
def test_an_address_body_that_is_not_one_is_refused(shop: Shop, body: Any) -> None:
    resp = put_address(shop, shop.buyer, body)
    assert resp.status_code in (400, 422), resp.text
    assert_error(resp, resp.status_code)
    assert me(shop, shop.buyer)["address"] is None


ODD_TOKENS = ["", "tok_mastercard", "TOK_VISA", " tok_visa", "tok_visa ", "tok_visa\x00",
              "tok_vísa", "x" * 10_240, "tok_visa" * 40]  # fmt: skip


@pytest.mark.parametrize("token", ODD_TOKENS, ids=lambda t: repr(t[:20]))
def test_unknown_tokens_are_invalid_payment_methods(shop: Shop, token: str) -> None:
    assert put_token(shop, shop.buyer, "tok_visa").status_code == 200
    assert_error(put_token(shop, shop.buyer, token), 422, "invalid_payment_method")
    assert me(shop, shop.buyer)["payment_method"] == {"brand": "visa", "last4": "4242"}


@pytest.mark.parametrize("token", [None, 4242, True, ["tok_visa"], {"id": "tok_visa"}], ids=str)
def test_a_token_that_is_not_a_string_is_a_validation_error(shop: Shop, token: Any) -> None:
    error = assert_error(put_token(shop, shop.buyer, token), 422, "validation_error")
    assert "token" in error["fields"], error
    error = assert_error(shop.client.put("/api/me/payment-method", json={},
                                         headers=shop.api.auth(shop.buyer)), 422)  # fmt: skip
    assert "token" in error["fields"], error
    assert me(shop, shop.buyer)["payment_method"] is None


@pytest.mark.one_database
def test_anonymous_callers_get_401(shop: Shop) -> None:
    for resp in (
        shop.client.get("/api/me"),
        shop.client.put("/api/me/address", json=HOME),
        shop.client.put("/api/me/payment-method", json={"token": "tok_visa"}),
    ):
        assert_error(resp, 401, "authentication_required")


@pytest.mark.one_database
async def test_the_test_provider_declines_only_the_declined_method() -> None:
    provider = TestPaymentProvider()
    visa = await provider.save_method("tok_visa", None, "livecart:user:1")
    declined = await provider.save_method("tok_declined", visa.customer_ref, "livecart:user:1")
    assert declined.customer_ref == visa.customer_ref
    assert await provider.authorize(100, "USD", "r1", method=visa)
    assert await provider.authorize(100, "USD", "r2")
    with pytest.raises(Exception, match="declined") as caught:
        await provider.authorize(1, "USD", "r3", method=declined)
    assert getattr(caught.value, "code", None) == "payment_declined"


# ---- orders with the profile


def test_an_order_without_shipping_needs_a_saved_address(shop: Shop) -> None:
    before = shop.stock()
    for extra in ({}, {"shipping": None}):
        resp = order_without_shipping(shop, shop.buyer, fresh_key(), **extra)
        error = assert_error(resp, 422, "validation_error")
        assert set(error["fields"]) == {"shipping"}, error
    assert shop.stock() == before and my_orders(shop, shop.buyer) == []

    assert put_address(shop, shop.buyer, HOME).status_code == 200
    resp = order_without_shipping(shop, shop.buyer, fresh_key())
    assert resp.status_code == 201, resp.text
    order = check_order(resp.json()["order"])
    assert order["shipping"] == HOME and order["source"] == "direct"
    assert shop.fetch(order["id"])["shipping"] == HOME
    # Shipping sent with the order wins over the saved address, which stays as it was.
    sent = shop.place(shop.buyer, shipping=SHIPPING)
    assert sent["shipping"] == SHIPPING
    assert me(shop, shop.buyer)["address"] == HOME
    assert shop.stock() == before - 2


def test_a_declined_saved_card_is_402_and_writes_nothing(shop: Shop) -> None:
    assert put_address(shop, shop.buyer, HOME).status_code == 200
    assert put_token(shop, shop.buyer, "tok_declined").status_code == 200
    before = shop.product_now()
    key = fresh_key()
    assert_error(order_without_shipping(shop, shop.buyer, key), 402, "payment_declined")
    assert_error(shop.order(shop.buyer, quantity=2), 402, "payment_declined")
    assert shop.product_now() == before
    assert my_orders(shop, shop.buyer) == []
    # Nothing was kept under the key either: with a good card the same request goes through.
    assert put_token(shop, shop.buyer, "tok_visa").status_code == 200
    resp = order_without_shipping(shop, shop.buyer, key)
    assert resp.status_code == 201, resp.text
    assert "Idempotent-Replayed" not in resp.headers
    assert resp.json()["order"]["payment_status"] == "authorized"
    assert shop.stock() == before["stock"] - 1
    # Other buyers (no saved card) are authorized as before.
    assert shop.place(shop.other)["payment_status"] == "authorized"


def test_a_declined_saved_card_at_a_deal_price_is_402(shop: Shop) -> None:
    live = shop.live()
    shop.pin(live["id"], price_cents=500, quantity=5, duration_s=600)
    assert put_token(shop, shop.buyer, "tok_declined").status_code == 200
    before = shop.product_now()
    resp = shop.order(shop.buyer, live_id=live["id"])
    assert_error(resp, 402, "payment_declined")
    assert shop.product_now() == before and my_orders(shop, shop.buyer) == []
    bought = shop.place(shop.other, live_id=live["id"])
    assert (bought["unit_price_cents"], bought["source"]) == (500, "live")


def test_orders_say_where_they_were_bought(shop: Shop) -> None:
    direct = shop.place(shop.buyer)
    live = shop.live()
    through_live = shop.place(shop.buyer, live_id=live["id"])
    assert (direct["source"], through_live["source"]) == ("direct", "live")
    assert through_live["live_id"] == live["id"]
    assert {o["id"]: o["source"] for o in my_orders(shop, shop.buyer)} == {
        direct["id"]: "direct", through_live["id"]: "live"}  # fmt: skip
    assert shop.fetch(through_live["id"])["source"] == "live"


def test_an_order_without_shipping_replays_by_its_key(shop: Shop) -> None:
    assert put_address(shop, shop.buyer, HOME).status_code == 200
    key = fresh_key()
    first = order_without_shipping(shop, shop.buyer, key)
    assert first.status_code == 201, first.text
    stock = shop.stock()
    again = order_without_shipping(shop, shop.buyer, key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # A new saved address does not make it another request: still the same order.
    assert put_address(shop, shop.buyer, SHIPPING).status_code == 200
    later = order_without_shipping(shop, shop.buyer, key, shipping=None)
    assert later.status_code == 201 and later.json() == first.json()
    assert shop.stock() == stock and len(my_orders(shop, shop.buyer)) == 1
    # Sending the address the order shipped to is a different body for the same key.
    resp = shop.order(shop.buyer, key=key, body=order_body(shop.pid, 1, shipping=HOME))
    assert_error(resp, 422, "idempotency_mismatch")


# ---- migration 0006


async def _backfilled_sources(url: str) -> dict[int | None, str]:
    """Orders written at revision 0005, read back after upgrading to the newest."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        await migrate.upgrade(engine, "0005")
        async with engine.begin() as conn:
            await old_product(conn, now)
            for live_id in (None, 7, None):
                await conn.execute(text(
                    "INSERT INTO orders (buyer_id, product_id, live_id, quantity, "
                    "unit_price_cents, total_cents, currency, status, payment_status, "
                    "payment_ref, shipping, restocked, created_at, updated_at) VALUES "
                    "(1, 1, :live, 1, 100, 100, 'USD', 'placed', 'authorized', '', '{}', "
                    ":no, :now, :now)"), {"live": live_id, "now": now, "no": False})  # fmt: skip
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT live_id, source FROM orders"))).all()
    finally:
        await engine.dispose()
    assert len(rows) == 3
    return {live_id: source for live_id, source in rows}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_backfills_the_source_of_existing_orders(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    found = on_scratch_database(backend, tmp_path, request, _backfilled_sources)
    assert found == {None: "direct", 7: "live"}
