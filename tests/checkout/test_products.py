"""Products: create, read, list, update (contract: Products)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_helpers import Api, assert_error, read_ok

PRODUCT_KEYS = {
    "id",
    "creator_id",
    "title",
    "description",
    "price_cents",
    "currency",
    "stock",
    "image_url",
    "url",
}


def list_products(api: Api, query: str = "") -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = read_ok(api.client, f"/api/products{query}", "products")
    return products


# ---- create


def test_create_product_full(api: Api) -> None:
    alice = api.register("alice", "creator")
    body = {
        "title": "Ceramic mug",
        "description": "Hand made.\nDishwasher safe.",
        "price_cents": 1299,
        "currency": "EUR",
        "stock": 7,
        "image_url": "https://cdn.example.com/mug.jpg",
        "url": "https://shop.example.com/mug",
    }
    resp = api.client.post("/api/products", json=body, headers=api.auth(alice))
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"product"}
    product = resp.json()["product"]
    assert set(product) >= PRODUCT_KEYS
    assert product["creator_id"] == alice["user"]["id"]
    for name, value in body.items():
        assert product[name] == value, name


def test_create_product_defaults(api: Api) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.post(
        "/api/products",
        json={"title": "Mug", "price_cents": 500, "stock": 3},
        headers=api.auth(alice),
    )
    assert resp.status_code == 201, resp.text
    product = resp.json()["product"]
    assert product["currency"] == "USD"
    assert product["description"] == ""
    assert product["image_url"] is None
    assert product["url"] is None
    assert product["price_cents"] == 500
    assert product["stock"] == 3


def test_create_product_zero_price_and_stock_allowed(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, price_cents=0, stock=0)
    assert product["price_cents"] == 0
    assert product["stock"] == 0


def test_create_product_relative_url_allowed(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, image_url="/static/mug.png")
    assert product["image_url"] == "/static/mug.png"


def test_create_product_unicode_title_round_trips(api: Api) -> None:
    alice = api.register("alice", "creator")
    title = "Tasse à café ☕ 日本"
    product = api.product(alice, title=title)
    assert product["title"] == title
    got = api.client.get(f"/api/products/{product['id']}")
    assert got.json()["product"]["title"] == title


def test_create_product_title_of_200_chars_allowed(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, title="x" * 200)
    assert product["title"] == "x" * 200


def test_unknown_fields_are_ignored(api: Api) -> None:
    alice = api.register("alice", "creator")
    viewer = api.register("victor")
    product = api.product(alice, creator_id=viewer["user"]["id"], id=999, sold=5)
    assert product["creator_id"] == alice["user"]["id"]
    assert product["id"] != 999


def test_viewer_cannot_create_products(api: Api) -> None:
    user = api.register("victor")
    resp = api.client.post(
        "/api/products", json={"title": "Mug", "price_cents": 1, "stock": 1}, headers=api.auth(user)
    )
    assert_error(resp, 403, "forbidden")
    assert list_products(api) == []


def test_create_product_anonymous_is_401(api: Api) -> None:
    resp = api.client.post("/api/products", json={"title": "Mug", "price_cents": 1, "stock": 1})
    assert_error(resp, 401, "authentication_required")
    assert list_products(api) == []


# ---- field validation


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": "1299"}, "price_cents"),
        ({"price_cents": 12.99}, "price_cents"),
        ({"price_cents": 12.0}, "price_cents"),
        ({"price_cents": True}, "price_cents"),
        ({"price_cents": None}, "price_cents"),
        ({"price_cents": 10**20}, "price_cents"),
        ({"stock": True}, "stock"),
        ({"stock": False}, "stock"),
        ({"stock": -1}, "stock"),
        ({"stock": "10"}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"stock": 10**20}, "stock"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 42}, "title"),
        ({"title": ["Mug"]}, "title"),
        ({"title": "Mu\x00g"}, "title"),
        ({"title": "Mu\x07g"}, "title"),
        ({"title": "Mu\x1bg"}, "title"),
        ({"title": "Mu\x7fg"}, "title"),
        ({"title": "Mug\nline two"}, "title"),
        ({"description": "nul \x00 inside"}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"description": 5}, "description"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"currency": "USDD"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"currency": 840}, "currency"),
        ({"image_url": "not a url"}, "image_url"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
        ({"image_url": "ftp://example.com/x.png"}, "image_url"),
        ({"image_url": "https://exa mple.com/x.png"}, "image_url"),
        ({"image_url": ""}, "image_url"),
        ({"image_url": "https://example.com/" + "a" * 2100}, "image_url"),
        ({"url": "example.com"}, "url"),
        ({"url": "https://example.com/\x00"}, "url"),
        ({"url": 1}, "url"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else str(v),
)
def test_create_product_invalid_field_is_422(api: Api, fields: dict[str, Any], bad: str) -> None:
    alice = api.register("alice", "creator")
    body = {"title": "Mug", "price_cents": 1299, "stock": 10, **fields}
    resp = api.client.post("/api/products", json=body, headers=api.auth(alice))
    error = assert_error(resp, 422, "validation_error")
    assert bad in error["fields"], error
    assert isinstance(error["fields"][bad], str) and error["fields"][bad]
    assert list_products(api) == []


@pytest.mark.one_database
@pytest.mark.parametrize("missing", ["title", "price_cents", "stock"])
def test_create_product_missing_required_field_is_422(api: Api, missing: str) -> None:
    alice = api.register("alice", "creator")
    body = {"title": "Mug", "price_cents": 1299, "stock": 10}
    del body[missing]
    resp = api.client.post("/api/products", json=body, headers=api.auth(alice))
    error = assert_error(resp, 422, "validation_error")
    assert set(error["fields"]) == {missing}


def test_create_product_reports_every_bad_field(api: Api) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.post(
        "/api/products",
        json={"title": "", "price_cents": -5, "stock": "many"},
        headers=api.auth(alice),
    )
    error = assert_error(resp, 422, "validation_error")
    assert {"title", "price_cents", "stock"} <= set(error["fields"])


# ---- read


def test_get_product(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, title="Teapot", price_cents=4500, stock=2)
    resp = api.client.get(f"/api/products/{product['id']}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"product": product}


def test_get_product_with_a_token(api: Api) -> None:
    alice = api.register("alice", "creator")
    viewer = api.register("victor")
    product = api.product(alice)
    resp = api.client.get(f"/api/products/{product['id']}", headers=api.auth(viewer))
    assert resp.status_code == 200
    assert resp.json() == {"product": product}


def test_unknown_product_is_404(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice)
    missing = int(product["id"]) + 1000
    assert_error(api.client.get(f"/api/products/{missing}"), 404, "not_found")
    resp = api.client.patch(f"/api/products/{missing}", json={"stock": 1}, headers=api.auth(alice))
    assert_error(resp, 404, "not_found")


# ---- list


def test_list_products_empty(api: Api) -> None:
    assert list_products(api) == []


def test_list_products_newest_first_and_filter_by_creator(api: Api) -> None:
    alice = api.register("alice", "creator")
    bob = api.register("bob", "creator")
    a1 = api.product(alice, title="A1")
    b1 = api.product(bob, title="B1")
    a2 = api.product(alice, title="A2")

    everything = list_products(api)
    assert [p["id"] for p in everything] == [a2["id"], b1["id"], a1["id"]]
    assert everything[0] == a2

    mine = list_products(api, f"?creator_id={alice['user']['id']}")
    assert [p["id"] for p in mine] == [a2["id"], a1["id"]]
    assert all(p["creator_id"] == alice["user"]["id"] for p in mine)

    bobs = list_products(api, f"?creator_id={bob['user']['id']}")
    assert bobs == [b1]


def test_list_products_of_user_without_products(api: Api) -> None:
    alice = api.register("alice", "creator")
    viewer = api.register("victor")
    api.product(alice)
    assert list_products(api, f"?creator_id={viewer['user']['id']}") == []
    assert list_products(api, "?creator_id=999999") == []


def test_list_products_limit_and_offset(api: Api) -> None:
    alice = api.register("alice", "creator")
    ids = [api.product(alice, title=f"P{i}")["id"] for i in range(5)]
    newest_first = list(reversed(ids))

    assert [p["id"] for p in list_products(api, "?limit=2")] == newest_first[:2]
    assert [p["id"] for p in list_products(api, "?limit=2&offset=2")] == newest_first[2:4]
    assert [p["id"] for p in list_products(api, "?limit=2&offset=4")] == newest_first[4:]
    assert list_products(api, "?offset=5") == []
    assert [p["id"] for p in list_products(api, "?offset=1")] == newest_first[1:]
    assert len(list_products(api, "?limit=1")) == 1
    assert len(list_products(api, "?limit=200")) == 5
    cid = alice["user"]["id"]
    assert [p["id"] for p in list_products(api, f"?creator_id={cid}&limit=1&offset=1")] == [
        newest_first[1]
    ]


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=abc", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=x", "offset"),
        ("?creator_id=abc", "creator_id"),
        ("?creator_id=0", "creator_id"),
        ("?creator_id=1.5", "creator_id"),
    ],
)
def test_list_products_bad_query_is_422(api: Api, query: str, field: str) -> None:
    error = assert_error(api.client.get(f"/api/products{query}"), 422, "validation_error")
    assert field in error["fields"], error


# ---- update


def test_owner_restocks(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, stock=1)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"stock": 25}, headers=api.auth(alice)
    )
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"product"}
    updated = resp.json()["product"]
    assert updated == {**product, "stock": 25}
    assert api.client.get(f"/api/products/{product['id']}").json()["product"] == updated


def test_owner_changes_price_and_other_fields(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, price_cents=1000, image_url="https://x.example/a.png")
    changes = {
        "price_cents": 799,
        "currency": "GBP",
        "title": "Mug (sale)",
        "description": "Now cheaper",
        "url": "https://shop.example/mug",
    }
    resp = api.client.patch(f"/api/products/{product['id']}", json=changes, headers=api.auth(alice))
    assert resp.status_code == 200, resp.text
    updated = resp.json()["product"]
    assert updated == {**product, **changes}
    assert api.client.get(f"/api/products/{product['id']}").json()["product"] == updated


def test_patch_leaves_unsent_fields_alone(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, description="keep me", image_url="/img.png", stock=4)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"price_cents": 1}, headers=api.auth(alice)
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()["product"]
    assert updated["description"] == "keep me"
    assert updated["image_url"] == "/img.png"
    assert updated["stock"] == 4
    assert updated["price_cents"] == 1


def test_empty_patch_changes_nothing(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice)
    resp = api.client.patch(f"/api/products/{product['id']}", json={}, headers=api.auth(alice))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"product": product}


def test_patch_can_clear_optional_urls(api: Api) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice, image_url="/a.png", url="https://example.com/")
    resp = api.client.patch(
        f"/api/products/{product['id']}",
        json={"image_url": None, "url": None},
        headers=api.auth(alice),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["product"]["image_url"] is None
    assert resp.json()["product"]["url"] is None


@pytest.mark.one_database
@pytest.mark.parametrize("field", ["title", "description", "price_cents", "currency", "stock"])
def test_patch_explicit_null_for_required_field_is_422(api: Api, field: str) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={field: None}, headers=api.auth(alice)
    )
    error = assert_error(resp, 422, "validation_error")
    assert field in error["fields"], error
    assert api.client.get(f"/api/products/{product['id']}").json()["product"] == product


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"stock": -1}, "stock"),
        ({"stock": True}, "stock"),
        ({"stock": "5"}, "stock"),
        ({"price_cents": -100}, "price_cents"),
        ({"price_cents": "100"}, "price_cents"),
        ({"title": ""}, "title"),
        ({"title": "y" * 201}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"currency": "eur"}, "currency"),
        ({"url": "nope"}, "url"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else str(v),
)
def test_patch_invalid_field_is_422_and_changes_nothing(
    api: Api, fields: dict[str, Any], bad: str
) -> None:
    alice = api.register("alice", "creator")
    product = api.product(alice)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"stock": 99, **fields}, headers=api.auth(alice)
    )
    error = assert_error(resp, 422, "validation_error")
    assert bad in error["fields"], error
    assert api.client.get(f"/api/products/{product['id']}").json()["product"] == product


def test_patch_cannot_change_owner_or_id(api: Api) -> None:
    alice = api.register("alice", "creator")
    bob = api.register("bob", "creator")
    product = api.product(alice)
    resp = api.client.patch(
        f"/api/products/{product['id']}",
        json={"creator_id": bob["user"]["id"], "id": 12345},
        headers=api.auth(alice),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"product": product}


def test_other_creator_cannot_patch(api: Api) -> None:
    alice = api.register("alice", "creator")
    bob = api.register("bob", "creator")
    product = api.product(alice, stock=3)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"stock": 0}, headers=api.auth(bob)
    )
    assert_error(resp, 403, "forbidden")
    assert api.client.get(f"/api/products/{product['id']}").json()["product"]["stock"] == 3
