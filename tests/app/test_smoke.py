from __future__ import annotations

from tests.http_helpers import Api


def test_register_and_me(api: Api) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.get("/api/me", headers=api.auth(alice))
    assert resp.status_code == 200
    assert resp.json()["user"] == alice["user"]
    staff = api.make_user("sam", __import__("app.accounts").accounts.Role.STAFF)
    assert api.client.get("/api/me", headers=api.auth(staff)).json()["user"]["role"] == "staff"
