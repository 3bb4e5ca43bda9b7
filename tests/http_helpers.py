"""REST calls and checks of their answers shared by the API tests (this module holds no
tests)."""

from __future__ import annotations

import re
import ssl
from typing import Any

import httpx2 as httpx
from starlette.testclient import TestClient

from app.accounts import Role, User, create_user

CODE = re.compile(r"[a-z][a-z0-9_]*")

# One TLS context for every test client: httpx builds a new one per client and loads the
# CA bundle into it (about 35 ms of CPU each, hundreds of clients a run), though the tests
# only speak plain HTTP to local servers.
_TLS = ssl.create_default_context()


# uvicorn closes a connection idle for 5 s (its keep-alive timeout) and httpx keeps one
# for 5 s too: a request sent on a connection just as the server closes it fails with a
# ReadError. A client that drops idle connections well before the server does never races.
_LIMITS = httpx.Limits(keepalive_expiry=2.0)


def http_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client for a test server at ``base_url``."""
    options.setdefault("limits", _LIMITS)
    return httpx.AsyncClient(base_url=base_url, verify=_TLS, **options)


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """``status`` and the contract's error shape: {"error": {"code", "message", "fields"?}}
    (and ``code``, if given). Returns the error object."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:300]}"
    )
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str) and CODE.fullmatch(error["code"]), body
    assert isinstance(error.get("message"), str) and error["message"], body
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"], body
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in error["fields"].items())
    if code is not None:
        assert error["code"] == code, body
    result: dict[str, Any] = error
    return result


def read_ok(client: TestClient, path: str, key: str) -> Any:
    """GET ``path``: 200 with exactly ``{key: ...}``; returns that value."""
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {key}, resp.json()
    return resp.json()[key]


class Api:
    """Small helpers over a TestClient: make users of any role, call with their token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def register(self, username: str, role: str = "viewer") -> dict[str, Any]:
        resp = self.client.post(
            "/api/auth/register",
            json={"username": username, "password": "password123", "role": role},
        )
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def make_user(self, username: str, role: Role) -> dict[str, Any]:
        """Create a user of any role (staff/admin included) straight in the database."""
        state = self.client.app.state.livecart  # type: ignore[attr-defined]

        async def _create() -> User:
            async with state.db.write() as session:
                return await create_user(session, username, "password123", role)

        assert self.client.portal is not None
        user = self.client.portal.call(_create)
        return {
            "user": {"id": user.id, "username": user.username, "role": user.role},
            "token": state.tokens.issue(user.uid),
        }

    @staticmethod
    def auth(who: dict[str, Any] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {who['token']}"} if who else {}

    def product(self, creator: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"title": "Mug", "price_cents": 1299, "stock": 10, **fields}
        resp = self.client.post("/api/products", json=body, headers=self.auth(creator))
        assert resp.status_code == 201, resp.text
        product: dict[str, Any] = resp.json()["product"]
        return product

    def live(self, creator: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"title": "Friday show", **fields}
        resp = self.client.post("/api/lives", json=body, headers=self.auth(creator))
        assert resp.status_code == 201, resp.text
        live: dict[str, Any] = resp.json()["live"]
        return live
