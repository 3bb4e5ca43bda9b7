"""Chat moderation over real sockets and REST (issue "Live chat and moderation", items 3
and 4): delete, mute, ban, blocked words by the creator and moderators, what viewers
may not do, whom moderators may not touch, and the audit log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.accounts import Role
from common.times import utcnow
from live.models import LiveMute
from tests.chat_helpers import (
    act,
    chat_log,
    expect,
    heard,
    joined,
    pong,
    refused,
    say,
    watching,
    ws_for,
)
from tests.live_server import LiveServer
from tests.ws_helpers import (
    Rest,
    Who,
    auth,
    close_code,
    make_user,
    next_frame,
    send,
    snapshot,
)


async def audit_log(rest: Rest, who: Who | None, live_id: int) -> httpx.Response:
    return await rest.http.get(f"/api/lives/{live_id}/moderation", headers=auth(who))


class Cast:
    """A started live with its creator ``cara``, moderators ``mona`` and ``mike``, viewers
    ``vera`` and ``walt``."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest

    async def setup(self) -> Cast:
        rest = self.rest
        self.cara = await rest.register("cara", "creator")
        self.live_id: int = (await rest.live(self.cara, start=True))["id"]
        self.mona = await rest.register("mona")
        self.mike = await rest.register("mike")
        self.vera = await rest.register("vera")
        self.walt = await rest.register("walt")
        await rest.moderator(self.cara, self.live_id, "mona")
        await rest.moderator(self.cara, self.live_id, "mike")
        return self

    def url(self, tail: str) -> str:
        return f"/api/lives/{self.live_id}{tail}"

    async def put(self, who: Who | None, tail: str, body: Any = None) -> httpx.Response:
        return await self.rest.http.put(self.url(tail), json=body, headers=auth(who))

    async def delete(self, who: Who | None, tail: str) -> httpx.Response:
        return await self.rest.http.delete(self.url(tail), headers=auth(who))

    async def get(self, who: Who | None, tail: str) -> httpx.Response:
        return await self.rest.http.get(self.url(tail), headers=auth(who))


@pytest.fixture
async def cast(rest: Rest) -> Cast:
    return await Cast(rest).setup()


def error_code(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    code: str = resp.json()["error"]["code"]
    return code


def iso_now_within(stamp: str, seconds: float = 60) -> None:
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert at.tzinfo is not None
    assert abs((datetime.now(UTC) - at).total_seconds()) < seconds, stamp


# ---- delete


async def test_delete_chat_by_frame_and_rest_reaches_everyone(
    server: LiveServer, cast: Cast
) -> None:
    async with watching(server, cast.live_id, cast.vera, cast.mona, None) as (v, m, anon):
        for text in ("first", "second", "third"):
            await say(v, text)
        sent = [await heard(anon, cast.vera, t) for t in ("first", "second", "third")]
        for ws in (v, m):
            for text in ("first", "second", "third"):
                await heard(ws, cast.vera, text)

        # A moderator deletes with a frame: chat_deleted {id}, with seq, to everyone.
        await send(m, {"type": "delete_chat", "id": sent[0]["id"]})
        got = [await expect(ws, "chat_deleted") for ws in (v, m, anon)]
        assert all(f == got[0] for f in got)
        assert got[0]["data"] == {"id": sent[0]["id"]}
        seq = got[0]["seq"]
        assert isinstance(seq, int)

        # The creator deletes over REST.
        resp = await cast.delete(cast.cara, f"/chat/{sent[1]['id']}")
        assert resp.status_code == 204, resp.text
        for ws in (v, m, anon):
            frame = await expect(ws, "chat_deleted")
            assert (frame["seq"], frame["data"]) == (seq + 1, {"id": sent[1]["id"]})

        # Deleting again changes nothing and announces nothing.
        assert (await cast.delete(cast.cara, f"/chat/{sent[1]['id']}")).status_code == 204
        await act(m, {"type": "delete_chat", "id": sent[0]["id"]})
        # Unknown messages: not_found, over both.
        assert error_code(await cast.delete(cast.mona, "/chat/999999"), 404) == "not_found"
        await send(m, {"type": "delete_chat", "id": 999999})
        await refused(m, "not_found")
        for bad in ("1", 0, None, -3):
            await send(m, {"type": "delete_chat", "id": bad})
            await refused(m, "validation_error")

        await say(v, "fourth")
        fourth = await heard(anon, cast.vera, "fourth")
        await pong(anon)  # no chat_deleted slipped in between
        assert (await cast.rest.events(cast.live_id, after=seq + 1))[0]["data"] == fourth

    assert await chat_log(cast.rest, cast.live_id) == [sent[2], fourth]
    async with ws_for(server, cast.live_id) as late:
        assert (await snapshot(late))["data"]["recent_chat"] == [sent[2], fourth]


async def test_a_message_from_another_live_cannot_be_deleted_through_this_one(
    server: LiveServer, cast: Cast
) -> None:
    other = (await cast.rest.live(cast.cara, start=True))["id"]
    async with ws_for(server, other, cast.vera) as v:
        await joined(v)
        await say(v, "elsewhere")
        message = await heard(v, cast.vera, "elsewhere")
    # mona moderates cast.live_id only.
    resp = await cast.delete(cast.mona, f"/chat/{message['id']}")
    assert error_code(resp, 404) == "not_found"
    resp = await cast.rest.http.delete(
        f"/api/lives/{other}/chat/{message['id']}", headers=auth(cast.mona)
    )
    assert error_code(resp, 403) == "forbidden"
    assert [m["text"] for m in await chat_log(cast.rest, other)] == ["elsewhere"]


# ---- who may moderate


MOD_FRAMES: list[dict[str, Any]] = [
    {"type": "delete_chat", "id": 1},
    {"type": "mute", "username": "walt", "duration_s": 60},
    {"type": "unmute", "username": "walt"},
    {"type": "ban", "username": "walt"},
    {"type": "unban", "username": "walt"},
    {"type": "slow_mode", "seconds": 10},
]


async def test_viewers_and_anonymous_sockets_cannot_moderate(
    server: LiveServer, cast: Cast
) -> None:
    async with watching(server, cast.live_id, cast.walt, cast.vera, None) as (w, v, anon):
        await say(w, "walt speaks")
        message = await heard(w, cast.walt, "walt speaks")
        for ws in (v, anon):
            await heard(ws, cast.walt, "walt speaks")
        frames = [{**f, "id": message["id"]} if f["type"] == "delete_chat" else f
                  for f in MOD_FRAMES]  # fmt: skip
        for frame in frames:
            await send(v, frame)
            await refused(v, "forbidden")
            await send(anon, frame)
            await refused(anon, "authentication_required")
        # Nothing happened: walt can still talk, his message is still there, no slow mode.
        await say(w, "still here")
        await heard(w, cast.walt, "still here")
        await heard(v, cast.walt, "still here")
        await pong(v)

    # The same over REST: 403 for a viewer, 401 anonymous.
    requests: list[tuple[str, str, Any]] = [
        ("DELETE", f"/chat/{message['id']}", None),
        ("PUT", "/mutes/walt", {"duration_s": 60}),
        ("DELETE", "/mutes/walt", None),
        ("PUT", "/bans/walt", None),
        ("DELETE", "/bans/walt", None),
        ("PUT", "/slow-mode", {"seconds": 10}),
        ("PUT", "/blocked-words", {"words": ["walt"]}),
        ("GET", "/blocked-words", None),
        ("GET", "/moderation", None),
        ("GET", "/mutes", None),
        ("GET", "/bans", None),
    ]
    for method, tail, body in requests:
        for who, status, code in ((cast.vera, 403, "forbidden"),
                                  (None, 401, "authentication_required")):  # fmt: skip
            resp = await cast.rest.http.request(
                method, cast.url(tail), json=body, headers=auth(who)
            )
            assert error_code(resp, status) == code, (method, tail)
    # A moderator of another live is a viewer here.
    other = (await cast.rest.live(cast.cara))["id"]
    await cast.rest.moderator(cast.cara, other, "vera")
    assert error_code(await cast.put(cast.vera, "/mutes/walt", {"duration_s": 5}), 403)

    assert [m["text"] for m in await chat_log(cast.rest, cast.live_id)] == [
        "walt speaks",
        "still here",
    ]
    resp = await audit_log(cast.rest, cast.cara, cast.live_id)
    assert resp.status_code == 200 and resp.json() == {"actions": []}


async def test_whom_moderators_may_mute_and_ban(server: LiveServer, cast: Cast) -> None:
    async with watching(server, cast.live_id, cast.mona, cast.mike, cast.cara) as (m, mk, c):
        # Not the creator (invalid_target), not another moderator (forbidden), not oneself.
        for kind in ("mute", "ban"):
            frame: dict[str, Any] = {"type": kind, "username": "cara"}
            if kind == "mute":
                frame["duration_s"] = 60
            await send(m, frame)
            await refused(m, "invalid_target")
            await send(m, {**frame, "username": "mike"})
            await refused(m, "forbidden")
            await send(m, {**frame, "username": "mona"})  # herself (also a moderator)
            assert (await expect(m, "error"))["data"]["code"] in {"invalid_target", "forbidden"}
            await send(c, {**frame, "username": "cara"})
            await refused(c, "invalid_target")
        for frame in ({"type": "unmute", "username": "mike"},
                      {"type": "unban", "username": "mike"}):  # fmt: skip
            await send(m, frame)
            await refused(m, "forbidden")
        body = {"duration_s": 60}
        assert error_code(await cast.put(cast.mona, "/mutes/cara", body), 422) == "invalid_target"
        assert error_code(await cast.put(cast.mona, "/bans/cara"), 422) == "invalid_target"
        assert error_code(await cast.put(cast.mona, "/mutes/mike", body), 403) == "forbidden"
        assert error_code(await cast.put(cast.mona, "/bans/mike"), 403) == "forbidden"
        # Unknown users.
        assert error_code(await cast.put(cast.mona, "/mutes/nobody", body), 404)
        await send(m, {"type": "ban", "username": "nobody"})
        await refused(m, "user_not_found")
        await send(m, {"type": "mute", "username": "Not A Name!", "duration_s": 5})
        await refused(m, "user_not_found")

        # Everyone can still talk.
        for ws, who in ((c, cast.cara), (mk, cast.mike), (m, cast.mona)):
            await say(ws, "fine")
            for listener in (c, mk, m):
                await heard(listener, who, "fine")

        # The creator can mute a moderator; that moderator's messages are then refused.
        await act(c, {"type": "mute", "username": "mike", "duration_s": 60})
        await say(mk, "can I talk?")
        muted = await refused(mk, "muted")
        assert 55 < muted["retry_after"] <= 60
        # ... and unmute them.
        resp = await cast.delete(cast.cara, "/mutes/mike")
        assert resp.status_code == 204, resp.text
        await say(mk, "back")
        await heard(mk, cast.mike, "back")


async def test_an_admin_may_mute_and_ban_a_moderator(server: LiveServer, cast: Cast) -> None:
    # Admins pass every rule, this one too (app/chat_actions.py), though not the creator.
    admin = await make_user(server.state, "root", Role.ADMIN)
    resp = await cast.put(cast.mona, "/mutes/mike", {"duration_s": 60})
    assert error_code(resp, 403) == "forbidden"
    resp = await cast.put(admin, "/mutes/mike", {"duration_s": 60})
    assert resp.status_code == 200 and resp.json()["mute"]["username"] == "mike", resp.text
    for tail in ("/mutes/mike", "/bans/mike"):
        assert (await cast.delete(admin, tail)).status_code == 204
    assert (await cast.put(admin, "/bans/mike")).status_code == 204
    resp = await audit_log(cast.rest, cast.cara, cast.live_id)
    done = [(a["action"], a["by"]["username"], a["target"]["username"])
            for a in resp.json()["actions"]]  # fmt: skip
    assert done == [("ban", "root", "mike"), ("unban", "root", "mike"),
                    ("unmute", "root", "mike"), ("mute", "root", "mike")]  # fmt: skip


# ---- mute


async def test_mute_refuses_messages_with_the_time_left_until_unmuted_or_expired(
    server: LiveServer, cast: Cast
) -> None:
    async with watching(server, cast.live_id, cast.vera, cast.vera, cast.walt, cast.mona) as (
        v,
        v_phone,
        w,
        m,
    ):
        resp = await cast.put(cast.mona, "/mutes/vera", {"duration_s": 120})
        assert resp.status_code == 200, resp.text
        mute = resp.json()["mute"]
        assert mute["username"] == "vera"
        until = datetime.fromisoformat(mute["until"].replace("Z", "+00:00"))
        assert 115 < (until - datetime.now(UTC)).total_seconds() <= 120

        for ws in (v, v_phone):  # every socket of hers
            await say(ws, "let me speak")
            data = await refused(ws, "muted")
            assert 110 < data["retry_after"] <= 120, data
        await say(w, "walt is not muted")
        for ws in (w, m, v, v_phone):
            await heard(ws, cast.walt, "walt is not muted")

        # A new mute replaces the running one (frame, 30 s).
        await act(m, {"type": "mute", "username": "vera", "duration_s": 30})
        await say(v, "now?")
        assert 25 < (await refused(v, "muted"))["retry_after"] <= 30

        # Unmute restores her voice (frame).
        await act(m, {"type": "unmute", "username": "vera"})
        await say(v, "thank you")
        for ws in (v, v_phone, w, m):
            await heard(ws, cast.vera, "thank you")

        # A short mute runs out by itself.
        await act(m, {"type": "mute", "username": "vera", "duration_s": 1})
        await say(v, "hello?")
        left = (await refused(v, "muted"))["retry_after"]
        assert 0 < left <= 1
        await asyncio.sleep(left + 0.1)  # the mute running out is the subject
        await say(v, "free")
        await heard(v, cast.vera, "free")
        await heard(m, cast.vera, "free")

        # Bad durations are validation errors.
        for bad in (0, -5, 7 * 24 * 3600 + 1, "60", None):
            await send(m, {"type": "mute", "username": "vera", "duration_s": bad})
            await refused(m, "validation_error")
            resp = await cast.put(cast.mona, "/mutes/vera", {"duration_s": bad})
            assert error_code(resp, 422) == "validation_error"
        await send(m, {"type": "mute", "username": "vera"})
        await refused(m, "validation_error")

    texts = [msg["text"] for msg in await chat_log(cast.rest, cast.live_id)]
    assert texts == ["walt is not muted", "thank you", "free"]


# ---- ban


async def test_ban_closes_the_users_sockets_on_that_live_only_until_unbanned(
    server: LiveServer, cast: Cast
) -> None:
    other = (await cast.rest.live(cast.cara, start=True))["id"]
    async with (
        ws_for(server, cast.live_id, cast.vera) as v1,
        ws_for(server, cast.live_id, cast.vera) as v2,
        ws_for(server, other, cast.vera) as v_other,
        ws_for(server, cast.live_id, cast.walt) as w,
        ws_for(server, cast.live_id, cast.mona) as m,
    ):
        for ws in (v1, v2, v_other, w, m):
            await joined(ws)

        await act(m, {"type": "ban", "username": "vera"})
        for ws in (v1, v2):
            frame = await expect(ws, "banned")
            assert frame["seq"] is None and frame["live_id"] == cast.live_id, frame
            assert frame["data"]["message"], frame
            assert await close_code(ws) == 4403

        # Her socket on another live stays open and she can chat there. (Whether it is
        # sent the ``banned`` frame is the subject of the next test, not this one.)
        await say(v_other, "still on the other show")
        while (frame := await next_frame(v_other))["type"] == "banned":
            pass
        assert frame["type"] == "chat" and frame["data"]["text"] == "still on the other show"
        assert v_other.close_code is None
        # Others on the live are not affected and see no ban frame.
        await say(w, "what happened?")
        await heard(w, cast.walt, "what happened?")
        await heard(m, cast.walt, "what happened?")

        # Reconnecting is refused with 4403, with or without ``after``.
        for query in ({}, {"after": 0}):
            async with ws_for(server, cast.live_id, cast.vera, **query) as again:
                assert await close_code(again) == 4403
        # Anonymous viewing is not a ban matter.
        async with ws_for(server, cast.live_id) as anon:
            await joined(anon)

        # Unban (REST): she can come back, and chat.
        resp = await cast.delete(cast.mona, "/bans/vera")
        assert resp.status_code == 204, resp.text
        async with ws_for(server, cast.live_id, cast.vera) as back:
            await joined(back)
            await say(back, "I'll behave")
            await heard(back, cast.vera, "I'll behave")
        await heard(w, cast.vera, "I'll behave")
        await pong(v_other)


async def test_ban_over_rest_is_idempotent_and_unknown_users_are_404(
    server: LiveServer, cast: Cast
) -> None:
    async with ws_for(server, cast.live_id, cast.walt) as w:
        await joined(w)
        resp = await cast.put(cast.cara, "/bans/walt")
        assert resp.status_code == 204, resp.text
        await expect(w, "banned")
        assert await close_code(w) == 4403
    assert (await cast.put(cast.cara, "/bans/walt")).status_code == 204
    assert error_code(await cast.put(cast.cara, "/bans/nobody"), 404) == "user_not_found"
    assert error_code(await cast.delete(cast.cara, "/bans/nobody"), 404) == "user_not_found"
    assert (await cast.delete(cast.cara, "/bans/walt")).status_code == 204
    assert (await cast.delete(cast.cara, "/bans/walt")).status_code == 204
    async with ws_for(server, cast.live_id, cast.walt) as w:
        await joined(w)


async def test_the_banned_frame_reaches_only_sockets_on_that_live(
    server: LiveServer, cast: Cast
) -> None:
    other = (await cast.rest.live(cast.cara, start=True))["id"]
    async with (
        ws_for(server, cast.live_id, cast.vera) as here,
        ws_for(server, other, cast.vera) as elsewhere,
    ):
        await joined(here)
        await joined(elsewhere)
        assert (await cast.put(cast.cara, "/bans/vera")).status_code == 204
        await expect(here, "banned")
        assert await close_code(here) == 4403
        # The socket watching the other live must not be told "you have been banned"
        # (the ban went out before ``here`` was closed; a ping now marks the end).
        await send(elsewhere, {"type": "ping"})
        frame = await next_frame(elsewhere)
        assert frame["type"] == "pong", (
            f"a socket on live {other} got the ban from live {cast.live_id}: {frame}"
        )


# ---- blocked words


async def test_blocked_words_refuse_whole_words_case_insensitively_shown_to_nobody(
    server: LiveServer, cast: Cast
) -> None:
    resp = await cast.put(cast.mona, "/blocked-words", {"words": ["Darn", " heck ", "darn"]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"blocked_words": ["darn", "heck"]}
    resp = await cast.get(cast.cara, "/blocked-words")
    assert resp.json() == {"blocked_words": ["darn", "heck"]}

    async with watching(server, cast.live_id, cast.vera, cast.walt, cast.cara) as (v, w, c):
        for bad in ("oh darn", "DARN it", "what the Heck!", "darn.", "(heck)"):
            await say(v, bad)
            data = await refused(v, "blocked_word")
            assert "retry_after" not in data
        # The creator is no exception.
        await say(c, "darn")
        await refused(c, "blocked_word")
        # Whole words only.
        fine = ["darning socks", "heckle", "sundarn", "dar n"]
        for text in fine:
            await say(v, text)
            await heard(v, cast.vera, text)
        # Nobody saw the refused ones: walt's first chat frames are the fine ones.
        for text in fine:
            await heard(w, cast.vera, text)
        await pong(w)

        # Replacing the list; an empty list clears it.
        resp = await cast.put(cast.cara, "/blocked-words", {"words": []})
        assert resp.json() == {"blocked_words": []}
        await say(v, "oh darn")
        await heard(v, cast.vera, "oh darn")
        await heard(w, cast.vera, "oh darn")

    for bad in ({"words": "darn"}, {"words": [1]}, {"words": [""]}, {}, {"words": ["a\nb"]}):
        resp = await cast.put(cast.cara, "/blocked-words", bad)
        assert error_code(resp, 422) == "validation_error", bad
    texts = [m["text"] for m in await chat_log(cast.rest, cast.live_id)]
    assert texts == [*fine, "oh darn"]


async def test_blocked_words_starting_or_ending_with_a_symbol_still_match(
    server: LiveServer, cast: Cast
) -> None:
    resp = await cast.put(cast.cara, "/blocked-words", {"words": ["a$$", "@SpamBot"]})
    assert resp.json() == {"blocked_words": ["@spambot", "a$$"]}
    async with ws_for(server, cast.live_id, cast.vera) as v:
        await joined(v)
        for text in ("you a$$", "a$$", "follow @spambot now", "@spambot"):
            await say(v, text)
            frame = await next_frame(v)
            assert frame["type"] == "error" and frame["data"]["code"] == "blocked_word", (
                f"{text!r} contains the blocked word as a whole word, yet got {frame}"
            )
        for text in ("glass", "spambot is not the handle"):  # not whole blocked words
            await say(v, text)
            await heard(v, cast.vera, text)


# ---- audit


async def test_every_moderation_action_is_audited(server: LiveServer, cast: Cast) -> None:
    cara, mona = cast.cara, cast.mona
    async with (
        ws_for(server, cast.live_id, cast.walt) as w,
        ws_for(server, cast.live_id, mona) as m,
    ):
        await joined(w)
        await joined(m)
        await say(w, "spam spam")
        message = await heard(w, cast.walt, "spam spam")
        await heard(m, cast.walt, "spam spam")
        deleted = await act(m, {"type": "delete_chat", "id": message["id"]})  # 1 (frame)
        assert [f["type"] for f in deleted] == ["chat_deleted"]
    assert (await cast.put(mona, "/mutes/walt", {"duration_s": 90})).status_code == 200  # 2
    assert (await cast.delete(cara, "/mutes/walt")).status_code == 204  # 3 unmute
    assert (await cast.put(cara, "/bans/vera")).status_code == 204  # 4 ban
    assert (await cast.delete(mona, "/bans/vera")).status_code == 204  # 5 unban
    assert (await cast.put(mona, "/slow-mode", {"seconds": 15})).status_code == 200  # 6
    resp = await cast.put(cara, "/blocked-words", {"words": ["Spam"]})  # 7
    assert resp.status_code == 200

    resp = await audit_log(cast.rest, mona, cast.live_id)  # moderators may read it
    assert resp.status_code == 200, resp.text
    actions = resp.json()["actions"]
    assert resp.json() == (await audit_log(cast.rest, cara, cast.live_id)).json()
    newest_first = list(reversed(actions))
    summary = [
        (
            a["action"],
            a["by"]["username"],
            a["target"]["username"] if a["target"] else None,
        )
        for a in newest_first
    ]
    assert summary == [
        ("delete_chat", "mona", "walt"),
        ("mute", "mona", "walt"),
        ("unmute", "cara", "walt"),
        ("ban", "cara", "vera"),
        ("unban", "mona", "vera"),
        ("slow_mode", "mona", None),
        ("blocked_words", "cara", None),
    ]
    users = {w["user"]["username"]: w["user"]["id"] for w in
             (cara, mona, cast.walt, cast.vera)}  # fmt: skip
    for entry in actions:
        assert entry["by"]["id"] == users[entry["by"]["username"]]
        if entry["target"]:
            assert entry["target"]["id"] == users[entry["target"]["username"]]
        iso_now_within(entry["at"])
    ats = [a["at"] for a in newest_first]
    assert ats == sorted(ats)
    details = {a["action"]: a["detail"] for a in actions}
    assert details["delete_chat"]["message_id"] == message["id"]
    assert details["mute"]["duration_s"] == 90
    assert details["slow_mode"] == {"seconds": 15}
    assert details["blocked_words"] == {"words": ["spam"]}

    # Paging.
    resp = await cast.get(cara, "/moderation?limit=2&offset=1")
    assert [a["action"] for a in resp.json()["actions"]] == ["slow_mode", "unban"]
    # Refused actions leave no trace.
    await cast.put(mona, "/bans/cara")
    await cast.put(cast.walt, "/bans/vera")
    resp = await audit_log(cast.rest, cara, cast.live_id)
    assert len(resp.json()["actions"]) == 7


async def test_audit_log_is_per_live(server: LiveServer, cast: Cast) -> None:
    other = (await cast.rest.live(cast.cara))["id"]
    assert (await cast.put(cast.cara, "/bans/walt")).status_code == 204
    resp = await audit_log(cast.rest, cast.cara, other)
    assert resp.status_code == 200 and resp.json() == {"actions": []}
    resp = await audit_log(cast.rest, cast.mona, other)  # mona moderates cast.live_id only
    assert error_code(resp, 403) == "forbidden"
    assert error_code(await audit_log(cast.rest, cast.cara, 999999), 404) == "not_found"


# ---- who is muted and banned now (the studio's lists)


def listed(resp: httpx.Response, key: str, when: str) -> list[tuple[str, str]]:
    assert resp.status_code == 200, resp.text
    entries = resp.json()[key]
    for entry in entries:
        assert set(entry) == {"user", when} and set(entry["user"]) == {"id", "username"}
    return [(e["user"]["username"], e[when]) for e in entries]


async def test_mutes_list_running_mutes_soonest_end_first(server: LiveServer, cast: Cast) -> None:
    vera = await cast.put(cast.mona, "/mutes/vera", {"duration_s": 600})
    walt = await cast.put(cast.cara, "/mutes/walt", {"duration_s": 60})
    assert vera.status_code == walt.status_code == 200, (vera.text, walt.text)
    expected = [("walt", walt.json()["mute"]["until"]), ("vera", vera.json()["mute"]["until"])]
    for who in (cast.cara, cast.mona, cast.mike):
        assert listed(await cast.get(who, "/mutes"), "mutes", "until") == expected
    entries = (await cast.get(cast.cara, "/mutes")).json()["mutes"]
    assert [e["user"]["id"] for e in entries] == [cast.walt["user"]["id"], cast.vera["user"]["id"]]
    assert all(until.endswith("Z") for _name, until in expected)

    # A new mute replaces the running one, and moves it in the order.
    again = (await cast.put(cast.mona, "/mutes/walt", {"duration_s": 3600})).json()["mute"]
    expected = [expected[1], ("walt", again["until"])]
    assert listed(await cast.get(cast.cara, "/mutes"), "mutes", "until") == expected

    # A mute that ran out is not listed (its end moved into the past, as a clock would).
    async with server.state.db.write() as session:
        await session.exec(
            update(LiveMute)
            .where(col(LiveMute.live_id) == cast.live_id,
                   col(LiveMute.user_id) == cast.vera["user"]["id"])
            .values(until=utcnow() - timedelta(seconds=1))
        )  # fmt: skip
    assert [n for n, _ in listed(await cast.get(cast.cara, "/mutes"), "mutes", "until")] == ["walt"]
    # Unmuted: gone.
    assert (await cast.delete(cast.mona, "/mutes/walt")).status_code == 204
    assert listed(await cast.get(cast.cara, "/mutes"), "mutes", "until") == []
    # Another live's mutes are its own.
    other = (await cast.rest.live(cast.cara))["id"]
    assert (await cast.put(cast.cara, "/mutes/vera", {"duration_s": 60})).status_code == 200
    resp = await cast.rest.http.get(f"/api/lives/{other}/mutes", headers=auth(cast.cara))
    assert resp.status_code == 200 and resp.json() == {"mutes": []}


async def test_bans_list_newest_first_until_unbanned(server: LiveServer, cast: Cast) -> None:
    assert listed(await cast.get(cast.cara, "/bans"), "bans", "at") == []
    assert (await cast.put(cast.cara, "/bans/vera")).status_code == 204
    assert (await cast.put(cast.mona, "/bans/walt")).status_code == 204
    assert (await cast.put(cast.mona, "/bans/walt")).status_code == 204  # idempotent: one entry
    bans = listed(await cast.get(cast.mike, "/bans"), "bans", "at")
    assert [name for name, _at in bans] == ["walt", "vera"]
    for _name, at in bans:
        assert at.endswith("Z")
        iso_now_within(at)
    entries = (await cast.get(cast.cara, "/bans")).json()["bans"]
    assert [e["user"]["id"] for e in entries] == [cast.walt["user"]["id"], cast.vera["user"]["id"]]

    assert (await cast.delete(cast.mona, "/bans/vera")).status_code == 204
    assert [n for n, _ in listed(await cast.get(cast.cara, "/bans"), "bans", "at")] == ["walt"]
    other = (await cast.rest.live(cast.cara))["id"]
    resp = await cast.rest.http.get(f"/api/lives/{other}/bans", headers=auth(cast.cara))
    assert resp.status_code == 200 and resp.json() == {"bans": []}


async def test_who_may_read_the_mutes_and_bans(server: LiveServer, cast: Cast) -> None:
    admin = await make_user(server.state, "root", Role.ADMIN)
    assert (await cast.put(cast.cara, "/mutes/walt", {"duration_s": 60})).status_code == 200
    assert (await cast.put(cast.cara, "/bans/vera")).status_code == 204
    for tail, key in (("/mutes", "mutes"), ("/bans", "bans")):
        resp = await cast.get(admin, tail)
        assert resp.status_code == 200 and len(resp.json()[key]) == 1, resp.text
        # Not the muted or banned users themselves, nor anyone else who is not staff.
        for who in (cast.walt, cast.vera):
            assert error_code(await cast.get(who, tail), 403) == "forbidden"
        assert error_code(await cast.get(None, tail), 401) == "authentication_required"
        url = f"/api/lives/999999{tail}"
        resp = await cast.rest.http.get(url, headers=auth(cast.cara))
        assert error_code(resp, 404) == "not_found"
    # A moderator of this live is a stranger to another live of the same creator.
    other = (await cast.rest.live(cast.cara))["id"]
    resp = await cast.rest.http.get(f"/api/lives/{other}/mutes", headers=auth(cast.mona))
    assert error_code(resp, 403) == "forbidden"


async def test_can_moderate_says_who_gets_the_moderator_tools(
    server: LiveServer, cast: Cast
) -> None:
    admin = await make_user(server.state, "root", Role.ADMIN)
    for who, expected in ((cast.cara, True), (cast.mona, True), (admin, True),
                          (cast.vera, False)):  # fmt: skip
        resp = await cast.get(who, "/can-moderate")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"can_moderate": expected}, who["user"]["username"]
    # Taken away: the answer follows at once.
    resp = await cast.rest.http.delete(cast.url("/moderators/mona"), headers=auth(cast.cara))
    assert resp.status_code == 204, resp.text
    assert (await cast.get(cast.mona, "/can-moderate")).json() == {"can_moderate": False}
    assert error_code(await cast.get(None, "/can-moderate"), 401) == "authentication_required"
    resp = await cast.rest.http.get("/api/lives/999999/can-moderate", headers=auth(cast.cara))
    assert error_code(resp, 404) == "not_found"
