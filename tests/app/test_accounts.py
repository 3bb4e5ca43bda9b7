"""Accounts: register, login, /api/me and bearer tokens (contract: Accounts, Conventions)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

from app.accounts import Role
from app.factory import create_app
from app.settings import Settings
from app.tokens import TokenSigner
from tests.http_helpers import Api, assert_error

PASSWORD = "password123"


def register(client: TestClient, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(
        "/api/auth/register", json={"username": username, "password": password, **extra}
    )


# ---- register


def test_register_returns_user_and_token(client: TestClient) -> None:
    resp = register(client, "alice", role="creator")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == {"id", "username", "role"}
    assert body["user"]["username"] == "alice"
    assert body["user"]["role"] == "creator"
    assert isinstance(body["user"]["id"], int | str)
    assert isinstance(body["token"], str) and body["token"]

    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"user": body["user"], "address": None, "payment_method": None}


def test_register_role_defaults_to_viewer(client: TestClient) -> None:
    resp = register(client, "bob")
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["role"] == "viewer"


def test_register_gives_distinct_ids(api: Api) -> None:
    a = api.register("first_user")
    b = api.register("second_user", "creator")
    assert a["user"]["id"] != b["user"]["id"]
    assert a["token"] != b["token"]


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "user_01", "___", "007"],
    ids=["min-length", "max-length", "mixed", "underscores", "digits"],
)
def test_register_accepts_valid_usernames(client: TestClient, username: str) -> None:
    resp = register(client, username)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["username"] == username


def test_register_taken_username_is_409(api: Api) -> None:
    api.register("carol")
    resp = register(api.client, "carol", "another-password", role="creator")
    assert_error(resp, 409, "username_taken")
    # The original account is untouched: its password still works, the new one does not.
    ok = api.client.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["user"]["role"] == "viewer"
    bad = api.client.post(
        "/api/auth/login", json={"username": "carol", "password": "another-password"}
    )
    assert_error(bad, 401, "invalid_credentials")


def test_register_same_name_twice_in_a_row(client: TestClient) -> None:
    first = register(client, "dave")
    second = register(client, "dave")
    assert first.status_code == 201, first.text
    assert_error(second, 409, "username_taken")


def test_register_taken_by_staff_account(api: Api) -> None:
    api.make_user("opsperson", Role.STAFF)
    assert_error(register(api.client, "opsperson"), 409, "username_taken")


@pytest.mark.parametrize(
    "username",
    [
        "Alice",
        "ALICE",
        "ab",
        "",
        "a" * 33,
        "al ice",
        " alice",
        "alice ",
        "élise",
        "алиса",
        "ali-ce",
        "ali.ce",
        "alice\n",
        "ali\x00ce",
        "😀😀😀",
        "ａｂｃ",
    ],
    ids=[
        "capital",
        "uppercase",
        "too-short",
        "empty",
        "too-long",
        "inner-space",
        "leading-space",
        "trailing-space",
        "accent",
        "cyrillic",
        "dash",
        "dot",
        "trailing-newline",
        "nul",
        "emoji",
        "fullwidth",
    ],
)
def test_register_rejects_bad_usernames(client: TestClient, username: str) -> None:
    error = assert_error(register(client, username), 422, "validation_error")
    assert "username" in error["fields"], error


@pytest.mark.parametrize("username", [None, 123, True, ["abc"], {"name": "abc"}])
def test_register_rejects_non_string_username(client: TestClient, username: Any) -> None:
    error = assert_error(register(client, username), 422, "validation_error")
    assert "username" in error["fields"], error


def test_register_requires_username_and_password(client: TestClient) -> None:
    resp = client.post("/api/auth/register", json={})
    error = assert_error(resp, 422, "validation_error")
    assert {"username", "password"} <= set(error["fields"])


@pytest.mark.parametrize("password", ["", "short", "1234567"])
def test_register_rejects_short_passwords(client: TestClient, password: str) -> None:
    error = assert_error(register(client, "erin", password), 422, "validation_error")
    assert "password" in error["fields"], error
    # Nothing was stored: the name is still free.
    assert register(client, "erin").status_code == 201


def test_register_accepts_eight_character_password(client: TestClient) -> None:
    resp = register(client, "frank", "12345678")
    assert resp.status_code == 201, resp.text
    login = client.post("/api/auth/login", json={"username": "frank", "password": "12345678"})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize("password", [12345678, None, True])
def test_register_rejects_non_string_password(client: TestClient, password: Any) -> None:
    error = assert_error(register(client, "gina", password), 422, "validation_error")
    assert "password" in error["fields"], error


@pytest.mark.parametrize("role", ["staff", "admin", "superuser", "", "Creator", None, 1])
def test_register_refuses_privileged_or_unknown_roles(client: TestClient, role: Any) -> None:
    error = assert_error(register(client, "mallory", role=role), 422, "validation_error")
    assert "role" in error["fields"], error
    # No account was created under any role.
    assert register(client, "mallory").status_code == 201


# ---- login


def test_login_returns_user_and_token(api: Api) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert body["user"] == alice["user"]
    me = api.client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["user"] == alice["user"]


def test_login_works_for_staff_created_out_of_band(api: Api) -> None:
    staff = api.make_user("sam", Role.STAFF)
    resp = api.client.post("/api/auth/login", json={"username": "sam", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == staff["user"]
    assert resp.json()["user"]["role"] == "staff"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong-password"),
        ("alice", PASSWORD.upper()),
        ("alice", ""),
        ("nobody", PASSWORD),
        ("ALICE", PASSWORD),
        ("", PASSWORD),
    ],
    ids=[
        "wrong-password",
        "wrong-case-password",
        "empty-password",
        "unknown-user",
        "case",
        "empty",
    ],
)
def test_login_bad_credentials_is_401(api: Api, username: str, password: str) -> None:
    api.register("alice")
    resp = api.client.post("/api/auth/login", json={"username": username, "password": password})
    error = assert_error(resp, 401, "invalid_credentials")
    assert "token" not in resp.json()
    assert "fields" not in error


def test_login_unknown_user_and_wrong_password_look_the_same(api: Api) -> None:
    api.register("alice")
    unknown = api.client.post("/api/auth/login", json={"username": "zed", "password": PASSWORD})
    wrong = api.client.post("/api/auth/login", json={"username": "alice", "password": "nope-nope"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_login_missing_fields_is_422(client: TestClient) -> None:
    error = assert_error(client.post("/api/auth/login", json={}), 422, "validation_error")
    assert {"username", "password"} <= set(error["fields"])


# ---- /api/me and tokens


def test_me_without_token_is_401(client: TestClient) -> None:
    resp = client.get("/api/me")
    assert_error(resp, 401, "authentication_required")
    assert resp.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage",
        "Bearer not.a.token",
        "Bearer " + "x" * 2000,
        "Bearer eyJ1aWQiOjF9.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=["garbage", "dotted", "very-long", "forged-shape"],
)
def test_me_with_garbage_token_is_401(api: Api, header: str) -> None:
    api.register("alice")
    resp = api.client.get("/api/me", headers={"Authorization": header})
    error = assert_error(resp, 401)
    assert error["code"] in {"invalid_token", "token_expired"}


@pytest.mark.parametrize(
    "header",
    ["Basic YWxpY2U6cGFzc3dvcmQxMjM=", "Token {token}", "{token}", "Bearer", "Bearer    ", ""],
    ids=["basic", "token-scheme", "no-scheme", "bearer-only", "bearer-blank", "empty"],
)
def test_me_with_bad_scheme_is_401(api: Api, header: str) -> None:
    alice = api.register("alice")
    value = header.format(token=alice["token"])
    resp = api.client.get("/api/me", headers={"Authorization": value})
    assert_error(resp, 401)


def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    alice = api.register("alice")
    resp = api.client.get("/api/me", headers={"Authorization": f"bearer {alice['token']}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == alice["user"]


def test_tampered_token_is_401(api: Api) -> None:
    alice = api.register("alice")
    token: str = alice["token"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    resp = api.client.get("/api/me", headers={"Authorization": f"Bearer {tampered}"})
    assert_error(resp, 401, "invalid_token")


def _issue_at(signer: TokenSigner, user_id: int, at: float, monkeypatch: pytest.MonkeyPatch) -> str:
    """A token for ``user_id`` as if it had been issued at Unix time ``at``."""
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda _self: int(at))
        return signer.issue(user_id)


def test_expired_token_is_401(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = api.register("alice")
    signer = TokenSigner(settings.secret_key, settings.token_ttl_s)
    issued = time.time() - settings.token_ttl_s - 3600
    token = _issue_at(signer, alice["user"]["id"], issued, monkeypatch)
    resp = api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, "token_expired")
    # A protected action is refused with the same token.
    resp = api.client.post(
        "/api/lives", json={"title": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 401


def test_token_just_inside_ttl_is_accepted(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = api.register("alice")
    signer = TokenSigner(settings.secret_key, settings.token_ttl_s)
    issued = time.time() - settings.token_ttl_s + 3600
    token = _issue_at(signer, alice["user"]["id"], issued, monkeypatch)
    resp = api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == alice["user"]


def test_token_from_another_secret_key_is_401(api: Api, settings: Settings) -> None:
    alice = api.register("alice")
    other = TokenSigner(settings.secret_key + "-other", settings.token_ttl_s)
    token = other.issue(alice["user"]["id"])
    resp = api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, "invalid_token")


def test_token_for_missing_user_is_401(api: Api, settings: Settings) -> None:
    api.register("alice")
    token = TokenSigner(settings.secret_key, settings.token_ttl_s).issue(2_000_000)
    resp = api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, "invalid_token")


def test_bad_token_is_401_even_on_public_endpoints(client: TestClient) -> None:
    for path in ("/api/products", "/api/lives"):
        resp = client.get(path, headers={"Authorization": "Bearer garbage"})
        assert_error(resp, 401, "invalid_token")


def test_tokens_survive_an_app_restart(api: Api, settings: Settings) -> None:
    """Tokens are signed, not stored: a new app with the same SECRET_KEY accepts them."""
    alice = api.register("alice")
    with TestClient(create_app(settings)) as other:
        resp = other.get("/api/me", headers=api.auth(alice))
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == alice["user"]


@pytest.mark.parametrize("user_id", [2**31, 2**40, -(2**40), 0, -1])
def test_validly_signed_token_for_impossible_user_id_is_401(
    settings: Settings, user_id: int
) -> None:
    """A well-signed token naming an id no user can have is refused, not a database error."""
    token = TokenSigner(settings.secret_key, settings.token_ttl_s).issue(user_id)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        resp = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(resp, 401, "invalid_token")
