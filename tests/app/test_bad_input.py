"""Hostile and malformed input: never a 5xx, always the error shape (contract: Conventions).

These tests use their own client that turns server exceptions into responses, so a
bug shows up as "got 500" with the request that caused it instead of a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from app.accounts import Role
from app.factory import create_app
from app.settings import Settings
from tests.http_helpers import Api, assert_error

MAX_BODY = 64 * 1024
F = TypeVar("F")


@pytest.fixture
def safe(settings: Settings) -> Iterator[Api]:
    """An ``Api`` whose client answers 500 (instead of raising) when the app fails."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client)


class World:
    """A creator with one product and one live, an admin, and a way to see what is stored."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.creator = api.register("alice", "creator")
        self.admin = api.make_user("root", Role.ADMIN)
        api.register("mia")
        self.product = api.product(self.creator)
        self.live = api.live(self.creator)

    def snapshot(self) -> dict[str, Any]:
        client = self.api.client
        return {
            "products": client.get("/api/products").json(),
            "lives": client.get("/api/lives").json(),
            "product": client.get(f"/api/products/{self.product['id']}").json(),
            "live": client.get(f"/api/lives/{self.live['id']}").json(),
            "mods": client.get(
                f"/api/lives/{self.live['id']}/moderators", headers=self.api.auth(self.creator)
            ).json(),
        }


@pytest.fixture
def world(safe: Api) -> World:
    return World(safe)


# Every endpoint that takes a JSON body: (method, path template, a valid body).
BODY_ENDPOINTS = [
    ("POST", "/api/auth/register", {"username": "newuser", "password": "password123"}),
    ("POST", "/api/auth/login", {"username": "alice", "password": "password123"}),
    ("POST", "/api/products", {"title": "Mug", "price_cents": 100, "stock": 1}),
    ("PATCH", "/api/products/{product}", {"stock": 3}),
    ("POST", "/api/lives", {"title": "Show"}),
]
BODY_IDS = [f"{m} {p}" for m, p, _ in BODY_ENDPOINTS]


def every_body_endpoint(test: F) -> F:
    """The test once per endpoint with a body (``method``, ``path``, ``_valid``), on SQLite
    alone: a body is refused before any query."""
    cases = pytest.mark.parametrize(("method", "path", "_valid"), BODY_ENDPOINTS, ids=BODY_IDS)
    marked: F = pytest.mark.one_database(cases(test))
    return marked


def send(world: World, method: str, path: str, **kwargs: Any) -> Response:
    url = path.format(product=world.product["id"], live=world.live["id"])
    headers = {**world.api.auth(world.creator), **kwargs.pop("headers", {})}
    return world.api.client.request(method, url, headers=headers, **kwargs)


# ---- malformed bodies

INVALID_JSON = {
    "unclosed": b"{",
    "trailing-comma": b'{"title": "Mug",}',
    "single-quotes": b"{'title': 'Mug'}",
    "text": b"not json",
    "form": b"title=Mug&stock=1",
    "truncated": b'{"title": "Mug"',
    "utf16-bom": b"\xff\xfe{}",
    "utf8-bom": b'\xef\xbb\xbf{"title": "Mug"}',
    "latin1": b'{"title": "caf\xe9"}',
    "lone-surrogate": b'{"title": "\\ud800"}',
    "deep-nesting": b"[" * 5000 + b"]" * 5000,
    "huge-number": b'{"price_cents": ' + b"9" * 5000 + b"}",
    "empty": b"",
    "spaces": b"   ",
    "newlines": b"\n\r\n\t",
}
NON_OBJECTS = {
    "empty-array": b"[]",
    "array": b'[{"title": "Mug"}]',
    "string": b'"Mug"',
    "number": b"42",
    "float": b"-1.5",
    "bool": b"true",
    "null": b"null",
}


class Cases:
    """Run many small cases in one test and report every one that failed, not just the first.
    Given a ``world``, the cases together must also leave what it stores exactly as it was
    (compared once, after the last case: a snapshot per case cost five requests each)."""

    def __init__(self, world: World | None = None) -> None:
        self.failures: list[str] = []
        self.labels: list[str] = []
        self.world = world
        self.before = world.snapshot() if world is not None else None

    def check(self, label: str, func: Any, *args: Any) -> None:
        self.labels.append(label)
        try:
            func(*args)
        except AssertionError as exc:
            first_line = (str(exc) or "assertion failed").splitlines()[0]
            self.failures.append(f"{label}: {first_line[:300]}")

    def assert_all_passed(self) -> None:
        if self.world is not None and self.world.snapshot() != self.before:
            self.failures.append(f"state changed by one of: {', '.join(self.labels)}")
        assert not self.failures, f"{len(self.failures)} case(s) failed:\n" + "\n".join(
            self.failures
        )


@every_body_endpoint
def test_invalid_or_empty_json_is_400(
    world: World, method: str, path: str, _valid: dict[str, Any]
) -> None:
    cases = Cases(world)

    def one(raw: bytes) -> None:
        assert_error(send(world, method, path, content=raw), 400, "invalid_json")

    for label, raw in INVALID_JSON.items():
        cases.check(label, one, raw)
    cases.assert_all_passed()


@every_body_endpoint
def test_non_object_body_is_422(
    world: World, method: str, path: str, _valid: dict[str, Any]
) -> None:
    cases = Cases(world)

    def one(raw: bytes) -> None:
        error = assert_error(send(world, method, path, content=raw), 422, "validation_error")
        assert "body" in error["fields"], error

    for label, raw in NON_OBJECTS.items():
        cases.check(label, one, raw)
    cases.assert_all_passed()


# ---- wrong types, field by field

STRING_FIELDS = {
    "/api/auth/register": ["username", "password", "role"],
    "/api/auth/login": ["username", "password"],
    "/api/products": ["title", "description", "currency", "image_url", "url"],
    "/api/products/{product}": ["title", "description", "currency", "image_url", "url"],
    "/api/lives": ["title", "stream_url"],
}
INT_FIELDS = {
    "/api/products": ["price_cents", "stock"],
    "/api/products/{product}": ["price_cents", "stock"],
}
WRONG_FOR_STRING: list[Any] = [True, 0, 1.5, [], ["Mug"], {}, {"a": "b"}]
WRONG_FOR_INT: list[Any] = [True, False, "1", "", 1.5, 2.0, [], [1], {}, 1e300, -(2**70)]


@pytest.mark.one_database
@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_wrong_type_is_422_naming_the_field(
    world: World, method: str, path: str, valid: dict[str, Any]
) -> None:
    cases = Cases(world)

    def one(field: str, value: Any) -> None:
        resp = send(world, method, path, json={**valid, field: value})
        error = assert_error(resp, 422, "validation_error")
        assert field in error["fields"], error

    for fields, values in ((STRING_FIELDS, WRONG_FOR_STRING), (INT_FIELDS, WRONG_FOR_INT)):
        for field in fields.get(path, []):
            for value in values:
                cases.check(f"{field}={value!r}", one, field, value)
    cases.assert_all_passed()
    if path == "/api/auth/register":  # no account was created by any of the refused calls
        login = world.api.client.post(
            "/api/auth/login", json={"username": "newuser", "password": "password123"}
        )
        assert_error(login, 401, "invalid_credentials")


# ---- sizes


@pytest.mark.one_database
@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_body_over_64_kib_is_413(
    world: World, method: str, path: str, valid: dict[str, Any]
) -> None:
    before = world.snapshot()
    big = {**valid, "title": "x" * 100_000}
    resp = send(world, method, path, json=big)
    assert_error(resp, 413, "body_too_large")
    assert world.snapshot() == before


@pytest.mark.one_database
@pytest.mark.parametrize(("method", "path", "valid"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_chunked_body_over_64_kib_is_413(
    world: World, method: str, path: str, valid: dict[str, Any]
) -> None:
    """No Content-Length to trust: the limit still holds while streaming."""
    before = world.snapshot()
    raw = json.dumps({**valid, "title": "x" * 100_000}).encode()
    chunks = [raw[i : i + 8192] for i in range(0, len(raw), 8192)]
    resp = send(world, method, path, content=iter(chunks))
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "body_too_large")
    assert world.snapshot() == before


def _body_of_size(size: int) -> bytes:
    head = b'{"title": "Mug", "price_cents": 1, "stock": 1, "description": "'
    tail = b'"}'
    return head + b"d" * (size - len(head) - len(tail)) + tail


@pytest.mark.one_database
def test_body_limit_boundary(world: World) -> None:
    """Exactly 64 KiB is parsed (and refused for its content); one byte more is 413."""
    at_limit = _body_of_size(MAX_BODY)
    assert len(at_limit) == MAX_BODY
    error = assert_error(
        send(world, "POST", "/api/products", content=at_limit), 422, "validation_error"
    )
    assert "description" in error["fields"]
    over = _body_of_size(MAX_BODY + 1)
    assert_error(send(world, "POST", "/api/products", content=over), 413, "body_too_large")


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("method", "path", "valid", "field"),
    [
        ("POST", "/api/products", BODY_ENDPOINTS[2][2], "title"),
        ("PATCH", "/api/products/{product}", {}, "title"),
        ("POST", "/api/lives", {}, "title"),
        ("POST", "/api/products", BODY_ENDPOINTS[2][2], "description"),
        ("POST", "/api/products", BODY_ENDPOINTS[2][2], "image_url"),
        ("POST", "/api/lives", {"title": "Show"}, "stream_url"),
        ("POST", "/api/auth/register", BODY_ENDPOINTS[0][2], "username"),
        ("POST", "/api/auth/register", BODY_ENDPOINTS[0][2], "password"),
        ("POST", "/api/auth/login", BODY_ENDPOINTS[1][2], "username"),
        ("POST", "/api/auth/login", BODY_ENDPOINTS[1][2], "password"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-",
)
def test_10_kb_string_is_422(
    world: World, method: str, path: str, valid: dict[str, Any], field: str
) -> None:
    before = world.snapshot()
    value = ("https://example.com/" if "url" in field else "") + "x" * 10_000
    resp = send(world, method, path, json={**valid, field: value})
    error = assert_error(resp, 422, "validation_error")
    assert field in error["fields"], error
    assert world.snapshot() == before


# ---- odd ids in every path

ODD_IDS = [
    "abc",
    "-1",
    "0",
    "-0",
    "1.5",
    "1e3",
    "0x1",
    "+1",
    "%201",
    "1%20",
    "99999999999999999999",
    "2147483648",
    "9999999999",
    "%00",
    "1%00",
    "%C3%A9",
    "%D9%A3",
    "%EF%BC%91",
    "%C2%B2",
    "null",
    "undefined",
    "%FF",
]

ID_ROUTES = [
    ("GET", "/api/products/{id}", None),
    ("PATCH", "/api/products/{id}", {"stock": 1}),
    ("GET", "/api/lives/{id}", None),
    ("PATCH", "/api/lives/{id}", {"title": "Renamed"}),
    ("GET", "/api/lives/{id}/timeline", None),
    ("PUT", "/api/products/{id}/inventory/MAIN", {"on_hand": 1}),
    ("GET", "/api/products/{id}/inventory", None),
    ("POST", "/api/lives/{id}/start", None),
    ("POST", "/api/lives/{id}/end", None),
    ("GET", "/api/lives/{id}/moderators", None),
    ("PUT", "/api/lives/{id}/moderators/mia", None),
    ("DELETE", "/api/lives/{id}/moderators/mia", None),
    ("GET", "/api/lives/{id}/auctions", None),
    ("POST", "/api/lives/{id}/auctions", {"product_id": 1, "start_cents": 100, "duration_s": 60}),
    ("GET", "/api/auctions/{id}", None),
    ("POST", "/api/auctions/{id}/bids", {"amount_cents": 100}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES]
)
def test_odd_ids_are_404(world: World, method: str, path: str, body: dict[str, Any] | None) -> None:
    """Ids are opaque: anything that is not an existing id is simply not found."""
    cases = Cases(world)

    def one(odd: str) -> None:
        url = path.replace("{id}", odd)
        resp = world.api.client.request(method, url, json=body, headers=world.api.auth(world.admin))
        assert_error(resp, 404, "not_found")

    for odd in ODD_IDS:
        cases.check(odd, one, odd)
    cases.assert_all_passed()


ODD_USERNAMES = ["%00", "a%00b", "%C3%A9", "%FF", "a" * 200, "ALICE", "mia%20", "%E2%80%8Bmia", "*"]


@pytest.mark.parametrize("username", ODD_USERNAMES)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_odd_moderator_usernames_are_user_not_found(
    world: World, method: str, username: str
) -> None:
    before = world.snapshot()
    url = f"/api/lives/{world.live['id']}/moderators/{username}"
    resp = world.api.client.request(method, url, headers=world.api.auth(world.creator))
    assert_error(resp, 404, "user_not_found")
    assert world.snapshot() == before


# ---- query parameters


BAD_QUERIES = [
    ("creator_id=abc", "creator_id"),
    ("creator_id=-1", "creator_id"),
    ("creator_id=0", "creator_id"),
    ("creator_id=1.0", "creator_id"),
    ("creator_id=99999999999", "creator_id"),
    ("creator_id=" + "9" * 1000, "creator_id"),
    ("creator_id=%00", "creator_id"),
    ("creator_id=%D9%A1", "creator_id"),
    ("limit=0", "limit"),
    ("limit=-5", "limit"),
    ("limit=201", "limit"),
    ("limit=100000", "limit"),
    ("limit=ten", "limit"),
    ("limit=1e2", "limit"),
    ("offset=-1", "offset"),
    ("offset=abc", "offset"),
    ("offset=99999999999", "offset"),
]


@pytest.mark.one_database
@pytest.mark.parametrize("path", ["/api/products", "/api/lives"])
def test_bad_query_params_are_422(safe: Api, path: str) -> None:
    cases = Cases()

    def one(query: str, field: str) -> None:
        error = assert_error(safe.client.get(f"{path}?{query}"), 422, "validation_error")
        assert field in error["fields"], error

    for query, field in BAD_QUERIES:
        cases.check(query[:40], one, query, field)
    cases.assert_all_passed()


@pytest.mark.one_database
@pytest.mark.parametrize("status", ["bogus", "LIVE", "%00", "%FF", "live%00", "x" * 5000])
def test_bad_live_status_is_422(world: World, status: str) -> None:
    error = assert_error(world.api.client.get(f"/api/lives?status={status}"), 422)
    assert "status" in error["fields"], error


@pytest.mark.one_database
@pytest.mark.parametrize("path", ["/api/products", "/api/lives"])
def test_unknown_query_params_are_ignored(world: World, path: str) -> None:
    plain = world.api.client.get(path)
    odd = world.api.client.get(f"{path}?foo=bar&%00=%00&sort=DROP%20TABLE")
    assert plain.status_code == odd.status_code == 200
    assert plain.json() == odd.json()


# ---- routing errors


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/api"),
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("GET", "/api/products/1/extra"),
        ("GET", "/api/lives/1/moderators/mia/extra"),
        ("GET", "/api/products/1%2F2"),
        ("GET", "/api/%00"),
        ("DELETE", "/api/users/1"),
    ],
)
def test_unknown_route_is_404_with_error_shape(safe: Api, method: str, path: str) -> None:
    assert_error(safe.client.request(method, path), 404, "not_found")


WRONG_METHODS = [
    ("DELETE", "/api/products", {"GET", "POST"}),
    ("PUT", "/api/products", {"GET", "POST"}),
    ("PUT", "/api/products/1", {"GET", "PATCH"}),
    ("DELETE", "/api/products/1", {"GET", "PATCH"}),
    ("GET", "/api/auth/register", {"POST"}),
    ("GET", "/api/auth/login", {"POST"}),
    ("POST", "/api/me", {"GET"}),
    ("POST", "/api/me/address", {"PUT"}),
    ("GET", "/api/me/payment-method", {"PUT"}),
    ("PUT", "/api/lives/1", {"GET", "PATCH"}),
    ("PATCH", "/api/lives/1/timeline", {"GET"}),
    ("GET", "/api/lives/1/start", {"POST"}),
    ("DELETE", "/api/lives/1/end", {"POST"}),
    ("POST", "/api/lives/1/moderators", {"GET"}),
    ("GET", "/api/lives/1/moderators/mia", {"PUT", "DELETE"}),
    ("POST", "/healthz", {"GET"}),
]
WRONG_METHOD_IDS = [f"{m} {p}" for m, p, _ in WRONG_METHODS]


@pytest.mark.one_database
@pytest.mark.parametrize(("method", "path", "_allowed"), WRONG_METHODS, ids=WRONG_METHOD_IDS)
def test_wrong_method_is_405_with_error_shape(
    safe: Api, method: str, path: str, _allowed: set[str]
) -> None:
    assert_error(safe.client.request(method, path), 405, "method_not_allowed")


@pytest.mark.one_database
@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS, ids=WRONG_METHOD_IDS)
def test_405_allow_header_lists_every_method(
    safe: Api, method: str, path: str, allowed: set[str]
) -> None:
    """RFC 9110 §15.5.6: a 405 carries ``Allow`` with the resource's supported methods."""
    resp = safe.client.request(method, path)
    assert resp.status_code == 405
    listed = {m.strip().upper() for m in resp.headers.get("allow", "").split(",") if m.strip()}
    assert allowed <= listed, f"Allow: {resp.headers.get('allow')!r}, expected {allowed}"


# ---- odd strings that must not reach the database as-is


@pytest.mark.parametrize(
    "username", ["a\x00b", "\x00", "alice\x00", "é" * 10, "a\u202eb", "' OR 1=1 --"]
)
def test_login_with_odd_username_is_a_clean_refusal(safe: Api, username: str) -> None:
    safe.register("alice")
    resp = safe.client.post(
        "/api/auth/login", json={"username": username, "password": "password123"}
    )
    assert resp.status_code in {401, 422}, resp.text
    assert_error(resp, resp.status_code)


def test_login_with_odd_password_is_401(safe: Api) -> None:
    safe.register("alice")
    for password in ["\x00", "password123\x00", "é" * 100]:
        resp = safe.client.post("/api/auth/login", json={"username": "alice", "password": password})
        assert_error(resp, 401, "invalid_credentials")


def test_password_with_nul_round_trips(safe: Api) -> None:
    """Passwords are hashed, never stored: any characters work, and exactly those."""
    resp = safe.client.post(
        "/api/auth/register", json={"username": "nully", "password": "pass\x00word!"}
    )
    assert resp.status_code == 201, resp.text
    ok = safe.client.post(
        "/api/auth/login", json={"username": "nully", "password": "pass\x00word!"}
    )
    assert ok.status_code == 200, ok.text
    bad = safe.client.post("/api/auth/login", json={"username": "nully", "password": "pass"})
    assert_error(bad, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "title",
    ["'; DROP TABLE products; --", "<script>alert(1)</script>", "%00", "\\u0000", "💥" * 200],
)
def test_odd_but_valid_titles_are_stored_verbatim(world: World, title: str) -> None:
    resp = send(world, "POST", "/api/products", json={"title": title, "price_cents": 1, "stock": 1})
    assert resp.status_code == 201, resp.text
    product = resp.json()["product"]
    assert product["title"] == title
    got = world.api.client.get(f"/api/products/{product['id']}").json()["product"]
    assert got["title"] == title


@pytest.mark.parametrize("value", [2**31, 2**63, MAX_BODY * 10**9])
def test_out_of_range_integers_are_422(world: World, value: int) -> None:
    for field in ("price_cents", "stock"):
        body = {"title": "Mug", "price_cents": 1, "stock": 1, field: value}
        error = assert_error(send(world, "POST", "/api/products", json=body), 422)
        assert field in error["fields"], error
        resp = send(world, "PATCH", "/api/products/{product}", json={field: value})
        assert field in assert_error(resp, 422)["fields"]
