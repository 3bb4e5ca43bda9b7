"""Schemathesis against the app's own OpenAPI document, on a real uvicorn over a socket.

Every operation is called with generated valid and invalid requests, signed in as a
creator and as a viewer (a live that is running, a product of the creator's pinned
to it, so that ids 1 name real things). Checked: no 5xx, every status declared,
every answer in its declared schema (errors in the one error shape), invalid
requests refused, auth enforced where declared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, find, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.factory import all_routes
from app.openapi import build_openapi
from app.settings import Settings
from tests.live_server import serve

ROLES = ("creator", "viewer")
# Filled by the ``served`` fixture (the seeded users' tokens, and "url"); read by ``signed_in``.
TOKENS: dict[str, str] = {}
# Signing out revokes the token it is sent with: ``test_logout`` gives each of its cases
# a fresh account, the others share the seeded ones. Changing the password or disabling
# cannot succeed for those (their passwords are random; they are not admins).
LOGOUT = "/api/auth/logout"
# Per operation and role (derandomized: the same cases every run). Raise it for a deeper search.
EXAMPLES = int(os.environ.get("LIVECART_SCHEMATHESIS_EXAMPLES", "15"))


def _schema_for(role: str) -> Any:
    """The document the app serves (``test_served_document_is_the_tested_one``), with
    ``role``'s bearer token on every case unless the case is about leaving it out;
    role "fresh": a new account's token for each case."""
    loaded = schemathesis.openapi.from_dict(build_openapi(all_routes(), version="test"))
    loaded = loaded.include(path=LOGOUT) if role == "fresh" else loaded.exclude(path=LOGOUT)

    class Token:
        # Some cases are built while tests are collected, before any server or token
        # exists: they carry a placeholder, which ``signed_in`` swaps for a real token.
        def get(self, case: Any, context: Any) -> str:
            return f"<{role}>"

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    loaded.auth.auth(refresh_interval=None)(Token)
    return loaded


@dataclass
class _Running:
    url: str
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event


@contextlib.contextmanager
def server_thread(app_settings: Settings) -> Iterator[str]:
    """uvicorn in a thread of its own: schemathesis calls it synchronously from this one."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with serve(app_settings, access_log=False) as live:
                box["running"] = _Running(live.url, asyncio.get_running_loop(), asyncio.Event())
                started.set()
                await box["running"].stop.wait()
        except BaseException as exc:
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(60), "the server did not start within 60 s"
    if "error" in box:
        raise box["error"]
    running: _Running = box["running"]
    try:
        yield running.url
    finally:
        running.loop.call_soon_threadsafe(running.stop.set)
        thread.join(30)


def _ok(resp: requests.Response, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json() if resp.content else {}
    return body


def _register(url: str, role: str) -> tuple[str, str]:
    """A new account with a random password nobody knows: its username and token."""
    name = f"st_{secrets.token_hex(8)}"
    body = {"username": name, "password": secrets.token_urlsafe(24), "role": role}
    return name, _ok(requests.post(f"{url}/api/auth/register", json=body), 201)["token"]


def seed(url: str) -> dict[str, str]:
    """A creator with a product pinned to a running live, and a viewer; their tokens."""
    tokens = {"url": url}
    for role in ROLES:
        tokens[role] = _register(url, role)[1]
    creator = {"Authorization": f"Bearer {tokens['creator']}"}
    product = {"title": "Mug", "price_cents": 1299, "stock": 1_000_000}
    _ok(requests.post(f"{url}/api/products", json=product, headers=creator), 201)
    _ok(requests.post(f"{url}/api/lives", json={"title": "Show"}, headers=creator), 201)
    _ok(requests.post(f"{url}/api/lives/1/start", headers=creator))
    _ok(requests.post(f"{url}/api/lives/1/pin", json={"product_id": 1}, headers=creator))
    return tokens


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "livecart.db"
    app_settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key="test-secret",
        env="test",
        # Generated registrations and logins all come from 127.0.0.1: with the address
        # limits on, register and login would answer nothing but 429 after a few dozen.
        login_failures_per_account=0,
        login_failures_per_address=0,
        registrations_per_address=0,
    )
    with server_thread(app_settings) as url:
        TOKENS.update(seed(url))
        yield url
    TOKENS.clear()


def test_served_document_is_the_tested_one(served: str) -> None:
    doc = requests.get(f"{served}/openapi.json").json()
    assert doc["paths"] == build_openapi(all_routes(), version="test")["paths"]
    assert doc["components"] == build_openapi(all_routes(), version="test")["components"]


def signed_in(case: Any) -> None:
    """Put the real token where the auth provider left its placeholder (a case about a
    missing or made-up token has none)."""
    sent = (case.headers or {}).get("Authorization", "")
    role = sent.removeprefix("Bearer <").removesuffix(">")
    if sent == f"Bearer <{role}>":
        token = _register(TOKENS["url"], "viewer")[1] if role == "fresh" else TOKENS[role]
        case.headers["Authorization"] = f"Bearer {token}"


BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run
    phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are reported as found
    suppress_health_check=list(HealthCheck),
)


@schemathesis.pytest.parametrize(**{role: _schema_for(role) for role in ROLES})
@BOUNDED
def test_api(case: Any, served: str) -> None:
    signed_in(case)
    excluded = []
    if "requestBody" in case.operation.definition.raw:
        # Request bodies are validated beyond what JSON Schema can say (strict integers
        # refuse 52.0, text refuses control and bidi characters, a deal's per-buyer
        # limit must not exceed its quantity, an idempotency key is bound to its first
        # body): a schema-valid body may rightly get 422, so that check is left out.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(base_url=served, excluded_checks=excluded)


@_schema_for("fresh").parametrize()
@BOUNDED
def test_logout(case: Any, served: str) -> None:
    signed_in(case)
    case.call_and_validate(base_url=served)


@pytest.mark.parametrize("role", ROLES)
def test_cases_are_sent_signed_in(served: str, role: str) -> None:
    """The runs above really act as each role: an auth provider silently left unapplied
    would send made-up tokens, get 401 everywhere and still pass."""
    case = find(_schema_for(role)["/api/me"]["GET"].as_strategy(), lambda _case: True)
    signed_in(case)
    resp = case.call(base_url=served)
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["role"] == role
