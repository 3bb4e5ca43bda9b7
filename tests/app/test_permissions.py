"""The role matrix: every mutating endpoint against every kind of caller.

Policy (app/permissions.py, contract: Accounts, Products, Lives):

- creating products and lives: creators and admins;
- editing a product, starting/ending a live, managing its moderators: the owner and admins;
- a live's moderators cannot start/end it nor manage moderators; they may list them;
- staff (fulfillment) may do none of these; anonymous callers get 401.

Each case also checks the side effect: an allowed call changed the resource,
a refused one left it exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx2 import Response

from app.accounts import Role
from tests.http_helpers import Api

ACTORS = ("anonymous", "viewer", "other_creator", "owner", "moderator", "staff", "admin")


@dataclass
class World:
    """Everything a case needs: users of every kind, and resources owned by ``owner``."""

    api: Api
    users: dict[str, dict[str, Any] | None]
    product: dict[str, Any]
    live: dict[str, Any]  # scheduled
    running: dict[str, Any]  # live, for /end
    target: dict[str, Any]  # a user who is not yet a moderator of ``live``

    def headers(self, actor: str) -> dict[str, str]:
        return self.api.auth(self.users[actor])

    def products(self) -> list[dict[str, Any]]:
        resp = self.api.client.get("/api/products")
        assert resp.status_code == 200
        result: list[dict[str, Any]] = resp.json()["products"]
        return result

    def lives(self) -> list[dict[str, Any]]:
        resp = self.api.client.get("/api/lives")
        assert resp.status_code == 200
        result: list[dict[str, Any]] = resp.json()["lives"]
        return result

    def get(self, path: str) -> dict[str, Any]:
        resp = self.api.client.get(path, headers=self.headers("owner"))
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def moderator_names(self, live: dict[str, Any]) -> set[str]:
        body = self.get(f"/api/lives/{live['id']}/moderators")
        return {m["username"] for m in body["moderators"]}


@pytest.fixture
def world(api: Api) -> World:
    owner = api.register("owner", "creator")
    users: dict[str, dict[str, Any] | None] = {
        "anonymous": None,
        "viewer": api.register("viewer"),
        "other_creator": api.register("other_creator", "creator"),
        "owner": owner,
        "moderator": api.register("moderator"),
        "staff": api.make_user("staff", Role.STAFF),
        "admin": api.make_user("admin", Role.ADMIN),
    }
    target = api.register("target")
    product = api.product(owner, title="Owned mug", stock=5, price_cents=1000)
    live = api.live(owner, title="Scheduled")
    running = api.live(owner, title="Running")
    for each in (live, running):
        resp = api.client.put(
            f"/api/lives/{each['id']}/moderators/moderator", headers=api.auth(owner)
        )
        assert resp.status_code == 200, resp.text
    api.register("member")
    resp = api.client.put(f"/api/lives/{live['id']}/moderators/member", headers=api.auth(owner))
    assert resp.status_code == 200, resp.text
    resp = api.client.post(f"/api/lives/{running['id']}/start", headers=api.auth(owner))
    assert resp.status_code == 200, resp.text
    running = resp.json()["live"]
    return World(api, users, product, live, running, target)


# ---- one entry per endpoint: how to call it, and how to tell whether it had an effect


@dataclass(frozen=True)
class Endpoint:
    call: Callable[[World, str], Response]
    # Given the world, the actor and the response, assert the state after an allowed (True)
    # or refused (False) call.
    check: Callable[[World, str, Response, bool], None]


def _user_id(w: World, actor: str) -> Any:
    user = w.users[actor]
    assert user is not None
    return user["user"]["id"]


def _create_product(w: World, actor: str) -> Response:
    body = {"title": "New mug", "price_cents": 500, "stock": 1}
    return w.api.client.post("/api/products", json=body, headers=w.headers(actor))


def _check_create_product(w: World, actor: str, resp: Response, allowed: bool) -> None:
    titles = [p["title"] for p in w.products()]
    if allowed:
        created = resp.json()["product"]
        assert created["creator_id"] == _user_id(w, actor)
        assert created["title"] == "New mug"
        assert titles == ["New mug", "Owned mug"]
    else:
        assert titles == ["Owned mug"]


def _patch_product(w: World, actor: str) -> Response:
    return w.api.client.patch(
        f"/api/products/{w.product['id']}",
        json={"stock": 50, "price_cents": 1},
        headers=w.headers(actor),
    )


def _check_patch_product(w: World, actor: str, resp: Response, allowed: bool) -> None:
    now = w.get(f"/api/products/{w.product['id']}")["product"]
    if allowed:
        assert resp.json()["product"] == now
        assert now == {**w.product, "stock": 50, "price_cents": 1}
    else:
        assert now == w.product


def _create_live(w: World, actor: str) -> Response:
    return w.api.client.post("/api/lives", json={"title": "New show"}, headers=w.headers(actor))


def _check_create_live(w: World, actor: str, resp: Response, allowed: bool) -> None:
    titles = [x["title"] for x in w.lives()]
    if allowed:
        created = resp.json()["live"]
        assert created["creator_id"] == _user_id(w, actor)
        assert created["status"] == "scheduled"
        assert titles == ["New show", "Running", "Scheduled"]
    else:
        assert titles == ["Running", "Scheduled"]


def _start(w: World, actor: str) -> Response:
    return w.api.client.post(f"/api/lives/{w.live['id']}/start", headers=w.headers(actor))


def _check_start(w: World, actor: str, resp: Response, allowed: bool) -> None:
    now = w.get(f"/api/lives/{w.live['id']}")["live"]
    if allowed:
        assert resp.json()["live"] == now
        assert now["status"] == "live"
    else:
        assert now == w.live


def _end(w: World, actor: str) -> Response:
    return w.api.client.post(f"/api/lives/{w.running['id']}/end", headers=w.headers(actor))


def _check_end(w: World, actor: str, resp: Response, allowed: bool) -> None:
    now = w.get(f"/api/lives/{w.running['id']}")["live"]
    if allowed:
        assert resp.json()["live"] == now
        assert now["status"] == "ended"
    else:
        assert now == w.running


def _put_moderator(w: World, actor: str) -> Response:
    return w.api.client.put(
        f"/api/lives/{w.live['id']}/moderators/target", headers=w.headers(actor)
    )


def _check_put_moderator(w: World, actor: str, resp: Response, allowed: bool) -> None:
    names = w.moderator_names(w.live)
    if allowed:
        assert {m["username"] for m in resp.json()["moderators"]} == names
        assert names == {"moderator", "member", "target"}
    else:
        assert names == {"moderator", "member"}


def _delete_moderator(w: World, actor: str) -> Response:
    return w.api.client.delete(
        f"/api/lives/{w.live['id']}/moderators/member", headers=w.headers(actor)
    )


def _check_delete_moderator(w: World, actor: str, resp: Response, allowed: bool) -> None:
    names = w.moderator_names(w.live)
    if allowed:
        assert resp.content == b""
        assert names == {"moderator"}
    else:
        assert names == {"moderator", "member"}


def _list_moderators(w: World, actor: str) -> Response:
    return w.api.client.get(f"/api/lives/{w.live['id']}/moderators", headers=w.headers(actor))


def _check_list_moderators(w: World, actor: str, resp: Response, allowed: bool) -> None:
    if allowed:
        assert {m["username"] for m in resp.json()["moderators"]} == {"moderator", "member"}
    assert w.moderator_names(w.live) == {"moderator", "member"}


HOME = {"name": "Ada", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001",
        "country": "FR"}  # fmt: skip


def _put_address(w: World, actor: str) -> Response:
    return w.api.client.put("/api/me/address", json=HOME, headers=w.headers(actor))


def _put_payment_method(w: World, actor: str) -> Response:
    body = {"token": "tok_visa"}
    return w.api.client.put("/api/me/payment-method", json=body, headers=w.headers(actor))


def _get_me(w: World, actor: str) -> Response:
    return w.api.client.get("/api/me", headers=w.headers(actor))


def _check_profile(w: World, actor: str, resp: Response, allowed: bool) -> None:
    """Each caller's profile is their own: an allowed call saved (or showed) the caller's."""
    if not allowed:
        assert w.get("/api/me")["address"] is None  # the owner's, untouched
        return
    path = resp.request.url.path
    mine = w.api.client.get("/api/me", headers=w.headers(actor)).json()
    assert mine["user"]["id"] == _user_id(w, actor)
    if path.endswith("/address"):
        assert resp.json() == {"address": HOME} and mine["address"] == HOME
    elif path.endswith("/payment-method"):
        method = {"brand": "visa", "last4": "4242"}
        assert (
            resp.json() == {"payment_method": method} == {"payment_method": mine["payment_method"]}
        )
    else:
        assert resp.json() == mine == {**mine, "address": None, "payment_method": None}
    if actor != "owner":
        assert w.get("/api/me")["address"] is None and w.get("/api/me")["payment_method"] is None


def _start_auction(w: World, actor: str) -> Response:
    body = {"product_id": w.product["id"], "start_cents": 500, "duration_s": 60}
    path = f"/api/lives/{w.running['id']}/auctions"
    return w.api.client.post(path, json=body, headers=w.headers(actor))


def _check_start_auction(w: World, actor: str, resp: Response, allowed: bool) -> None:
    """An allowed start holds a unit; a refused one leaves no auction and the stock as it was."""
    listed = w.get(f"/api/lives/{w.running['id']}/auctions")["auctions"]
    stock = w.get(f"/api/products/{w.product['id']}")["product"]["stock"]
    if allowed:
        assert [a["id"] for a in listed] == [resp.json()["auction"]["id"]]
        assert stock == 4
    else:
        assert (listed, stock) == ([], 5)


ENDPOINTS: dict[str, Endpoint] = {
    "POST /api/products": Endpoint(_create_product, _check_create_product),
    "PATCH /api/products/{id}": Endpoint(_patch_product, _check_patch_product),
    "POST /api/lives": Endpoint(_create_live, _check_create_live),
    "POST /api/lives/{id}/start": Endpoint(_start, _check_start),
    "POST /api/lives/{id}/end": Endpoint(_end, _check_end),
    "PUT /api/lives/{id}/moderators/{username}": Endpoint(_put_moderator, _check_put_moderator),
    "DELETE /api/lives/{id}/moderators/{username}": Endpoint(
        _delete_moderator, _check_delete_moderator
    ),
    # Not mutating, but part of the same rule set: the live's creator and moderators.
    "GET /api/lives/{id}/moderators": Endpoint(_list_moderators, _check_list_moderators),
    # The checkout profile: every signed-in account has its own.
    "PUT /api/me/address": Endpoint(_put_address, _check_profile),
    "PUT /api/me/payment-method": Endpoint(_put_payment_method, _check_profile),
    "GET /api/me": Endpoint(_get_me, _check_profile),
    # Auctions are run like pins: the live's creator, its moderators, admins.
    "POST /api/lives/{id}/auctions": Endpoint(_start_auction, _check_start_auction),
}

# endpoint → expected status for each actor, in ACTORS order:
#            anonymous viewer other_creator owner moderator staff admin
MATRIX: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "POST /api/products": (401, 403, 201, 201, 403, 403, 201),
    "PATCH /api/products/{id}": (401, 403, 403, 200, 403, 403, 200),
    "POST /api/lives": (401, 403, 201, 201, 403, 403, 201),
    "POST /api/lives/{id}/start": (401, 403, 403, 200, 403, 403, 200),
    "POST /api/lives/{id}/end": (401, 403, 403, 200, 403, 403, 200),
    "PUT /api/lives/{id}/moderators/{username}": (401, 403, 403, 200, 403, 403, 200),
    "DELETE /api/lives/{id}/moderators/{username}": (401, 403, 403, 204, 403, 403, 204),
    "GET /api/lives/{id}/moderators": (401, 403, 403, 200, 200, 403, 200),
    "PUT /api/me/address": (401, 200, 200, 200, 200, 200, 200),
    "PUT /api/me/payment-method": (401, 200, 200, 200, 200, 200, 200),
    "GET /api/me": (401, 200, 200, 200, 200, 200, 200),
    "POST /api/lives/{id}/auctions": (401, 403, 403, 201, 201, 403, 201),
}

CASES = [
    pytest.param(endpoint, actor, status, id=f"{endpoint}-{actor}")
    for endpoint, statuses in MATRIX.items()
    for actor, status in zip(ACTORS, statuses, strict=True)
]

ERROR_CODES = {401: "authentication_required", 403: "forbidden"}


def test_matrix_covers_every_endpoint_and_actor() -> None:
    assert set(MATRIX) == set(ENDPOINTS)
    assert all(len(row) == len(ACTORS) for row in MATRIX.values())


@pytest.mark.one_database
@pytest.mark.parametrize(("endpoint", "actor", "expected"), CASES)
def test_role_matrix(world: World, endpoint: str, actor: str, expected: int) -> None:
    spec = ENDPOINTS[endpoint]
    resp = spec.call(world, actor)
    assert resp.status_code == expected, f"{endpoint} as {actor}: {resp.status_code} {resp.text}"
    allowed = expected < 400
    if not allowed:
        body = resp.json()
        assert set(body) == {"error"}, body
        assert body["error"]["code"] == ERROR_CODES[expected], body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        assert re.fullmatch(r"[a-z_]+", body["error"]["code"])
        if expected == 401:
            assert resp.headers.get("www-authenticate", "").lower().startswith("bearer")
    spec.check(world, actor, resp, allowed)


def test_new_owner_controls_own_resources_not_the_first_owner(world: World) -> None:
    """Ownership is per resource: the first owner has no rights on another creator's things."""
    api = world.api
    product = _create_product(world, "other_creator").json()["product"]
    live = _create_live(world, "other_creator").json()["live"]
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"stock": 0}, headers=world.headers("owner")
    )
    assert resp.status_code == 403
    resp = api.client.post(f"/api/lives/{live['id']}/start", headers=world.headers("owner"))
    assert resp.status_code == 403
    resp = api.client.post(f"/api/lives/{live['id']}/start", headers=world.headers("other_creator"))
    assert resp.status_code == 200


def test_moderator_of_another_live_has_no_rights(world: World) -> None:
    api = world.api
    other_live = _create_live(world, "owner").json()["live"]
    path = f"/api/lives/{other_live['id']}/moderators"
    assert api.client.get(path, headers=world.headers("moderator")).status_code == 403


def test_anonymous_gets_401_before_404(world: World) -> None:
    """Auth is checked first: an anonymous caller learns nothing about which ids exist."""
    client = world.api.client
    assert client.post("/api/lives/999999/start").status_code == 401
    assert client.post("/api/lives/999999/end").status_code == 401
    assert client.patch("/api/products/999999", json={"stock": 1}).status_code == 401
    assert client.put("/api/lives/999999/moderators/target").status_code == 401
    assert client.delete("/api/lives/999999/moderators/target").status_code == 401
