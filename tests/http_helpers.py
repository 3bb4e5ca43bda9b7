"""Checks of REST answers shared by the API tests (this module holds no tests)."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

CODE = re.compile(r"[a-z][a-z0-9_]*")


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
