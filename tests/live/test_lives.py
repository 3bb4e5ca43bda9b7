"""Lives: create, lifecycle (scheduled → live → ended), listing, moderators (contract: Lives)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.accounts import Role
from tests.http_helpers import Api, assert_error, read_ok

LIVE_KEYS = {
    "id",
    "creator_id",
    "title",
    "status",
    "stream_url",
    "pinned",
    "viewers",
    "started_at",
    "ended_at",
}
# ISO 8601 in UTC, written with a trailing Z.
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def parse_utc(value: str) -> datetime:
    assert ISO_UTC.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def act(api: Api, who: dict[str, Any], live: dict[str, Any], action: str) -> Any:
    return api.client.post(f"/api/lives/{live['id']}/{action}", headers=api.auth(who))


def get_live(api: Api, live_id: Any) -> dict[str, Any]:
    live: dict[str, Any] = read_ok(api.client, f"/api/lives/{live_id}", "live")
    return live


def list_lives(api: Api, query: str = "") -> list[dict[str, Any]]:
    lives: list[dict[str, Any]] = read_ok(api.client, f"/api/lives{query}", "lives")
    return lives


# ---- create


def test_create_live_is_scheduled(api: Api) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.post(
        "/api/lives",
        json={"title": "Friday show", "stream_url": "https://stream.example.com/alice.m3u8"},
        headers=api.auth(alice),
    )
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"live"}
    live = resp.json()["live"]
    assert set(live) >= LIVE_KEYS
    assert live["creator_id"] == alice["user"]["id"]
    assert live["title"] == "Friday show"
    assert live["status"] == "scheduled"
    assert live["stream_url"] == "https://stream.example.com/alice.m3u8"
    assert live["pinned"] is None
    assert live["viewers"] == 0
    assert live["started_at"] is None
    assert live["ended_at"] is None
    assert get_live(api, live["id"]) == live


def test_create_live_without_stream_url(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    assert live["stream_url"] is None
    assert live["status"] == "scheduled"


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"title": 7}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "ok", "stream_url": "rtmp://x"}, "stream_url"),
        ({"title": "ok", "stream_url": "not a url"}, "stream_url"),
        ({"title": "ok", "stream_url": 5}, "stream_url"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else str(v),
)
def test_create_live_invalid_is_422(api: Api, body: dict[str, Any], bad: str) -> None:
    alice = api.register("alice", "creator")
    resp = api.client.post("/api/lives", json=body, headers=api.auth(alice))
    error = assert_error(resp, 422, "validation_error")
    assert bad in error["fields"], error
    assert list_lives(api) == []


def test_viewer_cannot_create_live(api: Api) -> None:
    viewer = api.register("victor")
    resp = api.client.post("/api/lives", json={"title": "x"}, headers=api.auth(viewer))
    assert_error(resp, 403, "forbidden")
    assert list_lives(api) == []


def test_unknown_live_is_404(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    missing = int(live["id"]) + 1000
    assert_error(api.client.get(f"/api/lives/{missing}"), 404, "not_found")
    for action in ("start", "end"):
        resp = api.client.post(f"/api/lives/{missing}/{action}", headers=api.auth(alice))
        assert_error(resp, 404, "not_found")
    resp = api.client.get(f"/api/lives/{missing}/moderators", headers=api.auth(alice))
    assert_error(resp, 404, "not_found")


# ---- lifecycle


def test_start_then_end(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    before = datetime.now(UTC) - timedelta(seconds=5)

    resp = act(api, alice, live, "start")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"live"}
    started = resp.json()["live"]
    assert started["id"] == live["id"]
    assert started["status"] == "live"
    assert isinstance(started["started_at"], str)
    started_at = parse_utc(started["started_at"])
    assert before <= started_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert started["ended_at"] is None
    assert get_live(api, live["id"]) == started

    resp = act(api, alice, live, "end")
    assert resp.status_code == 200, resp.text
    ended = resp.json()["live"]
    assert ended["status"] == "ended"
    assert ended["started_at"] == started["started_at"]
    ended_at = parse_utc(ended["ended_at"])
    assert started_at <= ended_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert get_live(api, live["id"]) == ended


@pytest.mark.parametrize(
    ("done", "again"),
    [(["start", "end"], "start"), (["start", "end"], "end"), (["start"], "start")],
    ids=["ended-cannot-restart", "ended-cannot-end-again", "started-cannot-start-again"],
)
def test_a_lifecycle_step_out_of_turn_is_409(api: Api, done: list[str], again: str) -> None:
    """scheduled → live → ended, each once: a step out of turn changes nothing (the first
    start and end times are kept)."""
    alice = api.register("alice", "creator")
    live = api.live(alice)
    for action in done:
        resp = act(api, alice, live, action)
        assert resp.status_code == 200, resp.text
    last = resp.json()["live"]
    assert_error(act(api, alice, live, again), 409, "invalid_state")
    assert get_live(api, live["id"]) == last


def test_ending_a_scheduled_live_is_409(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    assert_error(act(api, alice, live, "end"), 409, "invalid_state")
    assert get_live(api, live["id"]) == live


def test_admin_can_run_anyones_live(api: Api) -> None:
    alice = api.register("alice", "creator")
    admin = api.make_user("root", Role.ADMIN)
    live = api.live(alice)
    assert act(api, admin, live, "start").json()["live"]["status"] == "live"
    assert act(api, admin, live, "end").json()["live"]["status"] == "ended"


# ---- listing


def test_list_lives_by_status(api: Api) -> None:
    alice = api.register("alice", "creator")
    bob = api.register("bob", "creator")
    scheduled = api.live(alice, title="later")
    running = api.live(alice, title="now")
    finished = api.live(bob, title="done")
    other_running = api.live(bob, title="also now")
    act(api, alice, running, "start")
    act(api, bob, finished, "start")
    act(api, bob, finished, "end")
    act(api, bob, other_running, "start")

    live_now = list_lives(api, "?status=live")
    assert [x["id"] for x in live_now] == [other_running["id"], running["id"]]
    assert all(x["status"] == "live" for x in live_now)
    assert [x["id"] for x in list_lives(api, "?status=scheduled")] == [scheduled["id"]]
    assert [x["id"] for x in list_lives(api, "?status=ended")] == [finished["id"]]
    assert {x["id"] for x in list_lives(api)} == {
        scheduled["id"],
        running["id"],
        finished["id"],
        other_running["id"],
    }
    every = list_lives(api)
    assert all(set(x) >= LIVE_KEYS for x in every)
    alices = list_lives(api, f"?creator_id={alice['user']['id']}&status=live")
    assert [x["id"] for x in alices] == [running["id"]]


def test_list_lives_limit_and_offset(api: Api) -> None:
    alice = api.register("alice", "creator")
    ids = [api.live(alice, title=f"show {i}")["id"] for i in range(4)]
    newest_first = list(reversed(ids))
    assert [x["id"] for x in list_lives(api, "?limit=2")] == newest_first[:2]
    assert [x["id"] for x in list_lives(api, "?limit=2&offset=2")] == newest_first[2:]
    assert list_lives(api, "?offset=4") == []


@pytest.mark.parametrize("status", ["LIVE", "running", "live ", "0", "scheduled,live"])
def test_list_lives_invalid_status_is_422(api: Api, status: str) -> None:
    resp = api.client.get("/api/lives", params={"status": status})
    error = assert_error(resp, 422, "validation_error")
    assert "status" in error["fields"], error


def test_list_lives_when_none(api: Api) -> None:
    assert list_lives(api) == []
    assert list_lives(api, "?status=live") == []


# ---- moderators


def moderators(api: Api, who: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    resp = api.client.get(f"/api/lives/{live['id']}/moderators", headers=api.auth(who))
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"moderators"}
    mods: list[dict[str, Any]] = resp.json()["moderators"]
    return mods


def put_mod(api: Api, who: dict[str, Any], live: dict[str, Any], username: str) -> Any:
    return api.client.put(f"/api/lives/{live['id']}/moderators/{username}", headers=api.auth(who))


def delete_mod(api: Api, who: dict[str, Any], live: dict[str, Any], username: str) -> Any:
    return api.client.delete(
        f"/api/lives/{live['id']}/moderators/{username}", headers=api.auth(who)
    )


def test_add_moderator(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    live = api.live(alice)
    assert moderators(api, alice, live) == []
    resp = put_mod(api, alice, live, "mia")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"moderators": [mia["user"]]}
    assert moderators(api, alice, live) == [mia["user"]]


def test_add_moderator_twice_is_idempotent(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    live = api.live(alice)
    first = put_mod(api, alice, live, "mia")
    second = put_mod(api, alice, live, "mia")
    assert first.status_code == second.status_code == 200, second.text
    assert first.json() == second.json() == {"moderators": [mia["user"]]}
    assert moderators(api, alice, live) == [mia["user"]]


def test_several_moderators_listed_by_username(api: Api) -> None:
    alice = api.register("alice", "creator")
    zoe = api.register("zoe")
    bob = api.register("bob", "creator")
    live = api.live(alice)
    put_mod(api, alice, live, "zoe")
    resp = put_mod(api, alice, live, "bob")
    assert resp.json() == {"moderators": [bob["user"], zoe["user"]]}


def test_moderator_of_any_role(api: Api) -> None:
    alice = api.register("alice", "creator")
    staff = api.make_user("sam", Role.STAFF)
    live = api.live(alice)
    resp = put_mod(api, alice, live, "sam")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"moderators": [staff["user"]]}


def test_add_unknown_user_is_404(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    assert_error(put_mod(api, alice, live, "ghost"), 404, "user_not_found")
    assert_error(put_mod(api, alice, live, "g" * 40), 404, "user_not_found")
    assert moderators(api, alice, live) == []


def test_creator_cannot_moderate_own_live(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    assert_error(put_mod(api, alice, live, "alice"), 422, "invalid_moderator")
    assert moderators(api, alice, live) == []


def test_remove_moderator(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    ned = api.register("ned")
    live = api.live(alice)
    put_mod(api, alice, live, "mia")
    put_mod(api, alice, live, "ned")
    resp = delete_mod(api, alice, live, "mia")
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert moderators(api, alice, live) == [ned["user"]]
    # mia lost her rights on the live.
    resp = api.client.get(f"/api/lives/{live['id']}/moderators", headers=api.auth(mia))
    assert_error(resp, 403, "forbidden")


def test_remove_non_moderator_is_idempotent(api: Api) -> None:
    alice = api.register("alice", "creator")
    api.register("mia")
    live = api.live(alice)
    assert delete_mod(api, alice, live, "mia").status_code == 204
    put_mod(api, alice, live, "mia")
    assert delete_mod(api, alice, live, "mia").status_code == 204
    assert delete_mod(api, alice, live, "mia").status_code == 204
    assert moderators(api, alice, live) == []


def test_remove_unknown_user_is_404(api: Api) -> None:
    alice = api.register("alice", "creator")
    live = api.live(alice)
    assert_error(delete_mod(api, alice, live, "ghost"), 404, "user_not_found")


def test_moderator_can_list_moderators(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    live = api.live(alice)
    put_mod(api, alice, live, "mia")
    assert moderators(api, mia, live) == [mia["user"]]


def test_moderators_list_is_not_public(api: Api) -> None:
    alice = api.register("alice", "creator")
    viewer = api.register("victor")
    bob = api.register("bob", "creator")
    live = api.live(alice)
    path = f"/api/lives/{live['id']}/moderators"
    assert_error(api.client.get(path), 401, "authentication_required")
    assert_error(api.client.get(path, headers=api.auth(viewer)), 403, "forbidden")
    assert_error(api.client.get(path, headers=api.auth(bob)), 403, "forbidden")


def test_moderatorship_is_per_live(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    one = api.live(alice, title="one")
    two = api.live(alice, title="two")
    put_mod(api, alice, one, "mia")
    assert moderators(api, alice, two) == []
    resp = api.client.get(f"/api/lives/{two['id']}/moderators", headers=api.auth(mia))
    assert_error(resp, 403, "forbidden")


def test_moderators_survive_the_lifecycle(api: Api) -> None:
    alice = api.register("alice", "creator")
    mia = api.register("mia")
    live = api.live(alice)
    put_mod(api, alice, live, "mia")
    act(api, alice, live, "start")
    assert moderators(api, alice, live) == [mia["user"]]
    act(api, alice, live, "end")
    assert moderators(api, mia, live) == [mia["user"]]
