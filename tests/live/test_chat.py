"""Live chat over real sockets (issue "Live chat and moderation", items 1, 2 and 5):
who may chat, which texts pass, what everyone sees, the recent chat in snapshots,
per-user rate limits, slow mode, and a flooding client that slows nobody else."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx2 as httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.settings import ConfigError, Settings
from tests.chat_helpers import (
    chat_log,
    check_chat,
    expect,
    joined,
    pong,
    refused,
    say,
    setup,
    watching,
    ws_for,
)
from tests.live_server import LiveServer, serve
from tests.ws_helpers import Frame, Rest, Who, auth, next_frame, rest_for, send, snapshot

WAIT = 5.0
# How soon others' events must arrive during a flood (generous: CI machines are slow).
PROMPTLY = 2.0


@contextlib.asynccontextmanager
async def chat_server(settings: Settings, **changes: Any) -> AsyncIterator[LiveServer]:
    """An in-process server with other chat limits (``chat_rate``, ``chat_burst``)."""
    async with serve(replace(settings, presence_interval_s=0.1, **changes)) as server:
        yield server


# ---- item 1: who may chat, what passes, what everyone sees


async def test_chat_reaches_the_whole_live_with_seq_and_is_kept(
    server: LiveServer, rest: Rest
) -> None:
    creator, live_id, (vera, walt) = await setup(rest, "vera", "walt")
    async with (
        ws_for(server, live_id, vera) as v,
        ws_for(server, live_id, walt) as w,
        ws_for(server, live_id) as anon,
        ws_for(server, live_id, creator) as studio,
    ):
        snaps = [await joined(ws) for ws in (v, w, anon, studio)]
        head = snaps[0]["data"]["seq"]
        assert all(s["data"]["recent_chat"] == [] for s in snaps)

        await say(v, "  hello everyone \t")  # trimmed
        got = [await expect(ws, "chat") for ws in (v, w, anon, studio)]
        assert all(frame == got[0] for frame in got), got  # one frame, the same for all
        data = check_chat(got[0], vera, "hello everyone")
        assert got[0]["seq"] == head + 1
        assert got[0]["live_id"] == live_id

        await say(studio, "thanks for coming")
        second = [await expect(ws, "chat") for ws in (v, w, anon, studio)]
        assert {f["seq"] for f in second} == {head + 2}
        check_chat(second[0], creator, "thanks for coming")

        # Kept: in the replay log with the same seq, in the chat history, in snapshots.
        events = await rest.events(live_id, after=head)
        assert [(e["type"], e["seq"], e["data"]) for e in events] == [
            ("chat", head + 1, data),
            ("chat", head + 2, second[0]["data"]),
        ]
        assert await chat_log(rest, live_id) == [data, second[0]["data"]]
        async with ws_for(server, live_id) as late:
            snap = await snapshot(late)
            assert snap["data"]["recent_chat"] == [data, second[0]["data"]]
            assert snap["data"]["seq"] == head + 2
        async with ws_for(server, live_id, walt, after=head) as resumed:
            replay = [await next_frame(resumed) for _ in range(3)]
            assert [f["type"] for f in replay] == ["chat", "chat", "resumed"]
            assert replay[0] == got[0]


async def test_anonymous_sockets_cannot_chat(server: LiveServer, rest: Rest) -> None:
    _creator, live_id, (vera,) = await setup(rest, "vera")
    async with ws_for(server, live_id) as anon, ws_for(server, live_id, vera) as v:
        await joined(anon)
        await joined(v)
        await say(anon, "hi, I am nobody")
        await refused(anon, "sign_in_required")
        await pong(anon)  # the socket stays open
        # Nothing reached anyone: vera's next frame is her own message.
        await say(v, "first real message")
        check_chat(await expect(v, "chat"), vera, "first real message")
        check_chat(await expect(anon, "chat"), vera, "first real message")
    assert [m["text"] for m in await chat_log(rest, live_id)] == ["first real message"]


async def test_message_text_rules(server: LiveServer, rest: Rest) -> None:
    _creator, live_id, (vera,) = await setup(rest, "vera")
    longest = "x" * 499 + "!"
    emoji = "😀" * 500  # 500 characters (2,000 bytes of UTF-8)
    async with ws_for(server, live_id, vera) as v, ws_for(server, live_id) as anon:
        await joined(v)
        await joined(anon)

        for bad in [
            "x" * 501,
            "  " + "y" * 501 + "  ",
            "",
            "   ",
            " \t \u3000 ",  # whitespace only, ideographic space included
            "ring \x07 the bell",
            "two\nlines",
            "tab\there",
            "nul\x00byte",
            "del\x7fchar",
            "c1\x85control",
        ]:
            await say(v, bad)
            data = await refused(v, "invalid_text")
            assert "retry_after" not in data, data
        # A lone surrogate (valid JSON escape, not a character) is refused too, not a 500.
        await v.send('{"type": "chat", "text": "half \\ud800 a character"}')
        assert (await expect(v, "error"))["data"]["code"] in {"invalid_text", "validation_error"}
        # Wrong shapes are validation errors, not crashes.
        for frame in [
            {"type": "chat"},
            {"type": "chat", "text": 5},
            {"type": "chat", "text": None},
        ]:
            await send(v, frame)
            data = await refused(v, "validation_error")
            assert "text" in data.get("fields", {}), data

        # Refused texts used no part of the rate budget (default burst 5).
        await say(v, longest)
        check_chat(await expect(v, "chat"), vera, longest)
        await say(v, "   " + longest + "\n ")  # 500 once trimmed
        check_chat(await expect(v, "chat"), vera, longest)
        await say(v, emoji)
        check_chat(await expect(v, "chat"), vera, emoji)
        await say(v, "ok")
        check_chat(await expect(v, "chat"), vera, "ok")

        # The anonymous viewer saw exactly the accepted ones, in order.
        seen = [(await expect(anon, "chat"))["data"]["text"] for _ in range(4)]
        assert seen == [longest, longest, emoji, "ok"]
        await pong(anon)
    assert [m["text"] for m in await chat_log(rest, live_id)] == seen


async def test_the_user_shown_is_always_the_sender(server: LiveServer, rest: Rest) -> None:
    creator, live_id, (vera,) = await setup(rest, "vera")
    async with ws_for(server, live_id, vera) as v, ws_for(server, live_id) as anon:
        await joined(v)
        await joined(anon)
        spoof = {"id": creator["user"]["id"], "username": creator["user"]["username"]}
        await say(v, "I am the creator, buy now", user=spoof, username="cara",
                  user_id=creator["user"]["id"], id=1, at="2000-01-01T00:00:00Z")  # fmt: skip
        await say(v, "me again", user="cara")
        first = check_chat(await expect(anon, "chat"), vera, "I am the creator, buy now")
        second = check_chat(await expect(anon, "chat"), vera, "me again")
        assert not first["at"].startswith("2000")
        assert first["id"] != second["id"]
    history = await chat_log(rest, live_id)
    assert [m["user"]["username"] for m in history] == ["vera", "vera"]


async def test_chat_on_an_ended_live_is_refused(server: LiveServer, rest: Rest) -> None:
    creator, live_id, (vera,) = await setup(rest, "vera")
    async with ws_for(server, live_id, vera) as v:
        await joined(v)
        await rest.end(creator, live_id)
        await expect(v, "live_ended")
        await say(v, "anyone?")
        await refused(v, "invalid_state")
    assert await chat_log(rest, live_id) == []


async def test_snapshot_holds_the_last_50_messages_without_deleted_ones(
    settings: Settings,
) -> None:
    async with (
        chat_server(settings, chat_rate=1000.0, chat_burst=1000) as server,
        rest_for(server.url) as rest,
    ):
        creator, live_id, (vera,) = await setup(rest, "vera")
        # Three sockets of one user: the per-socket frame budget (burst 20) is not the subject.
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(ws_for(server, live_id, vera))
                       for _ in range(3)]  # fmt: skip
            for ws in sockets:
                await joined(ws)
            sent: list[dict[str, Any]] = []
            for n in range(55):
                ws = sockets[n % 3]
                await say(ws, f"message {n:02}")
                sent.append(check_chat(await expect(ws, "chat"), vera, f"message {n:02}"))
                for other in sockets:
                    if other is not ws:
                        assert (await expect(other, "chat"))["data"] == sent[-1]

            async with ws_for(server, live_id) as before:
                assert (await snapshot(before))["data"]["recent_chat"] == sent[-50:]

            gone = sent[30]
            resp = await rest.http.delete(
                f"/api/lives/{live_id}/chat/{gone['id']}", headers=auth(creator)
            )
            assert resp.status_code == 204, resp.text
            for ws in sockets:
                deleted = await expect(ws, "chat_deleted")
                assert deleted["data"] == {"id": gone["id"]}
                assert isinstance(deleted["seq"], int)

        expected = [m for m in sent if m["id"] != gone["id"]][-50:]
        assert expected[0]["text"] == "message 04" and len(expected) == 50
        async with ws_for(server, live_id) as after:
            recent = (await snapshot(after))["data"]["recent_chat"]
        assert recent == expected
        assert await chat_log(rest, live_id, limit=50) == expected
        assert await chat_log(rest, live_id) == [m for m in sent if m["id"] != gone["id"]]


# ---- item 2: rate limits and slow mode


def test_chat_limits_come_from_the_environment() -> None:
    env = {"LIVECART_CHAT_RATE": "0.5", "LIVECART_CHAT_BURST": "3"}
    settings = Settings.from_env({**env, "SECRET_KEY": "k"})
    assert (settings.chat_rate, settings.chat_burst) == (0.5, 3)
    defaults = Settings.from_env({"SECRET_KEY": "k"})
    assert (defaults.chat_rate, defaults.chat_burst) == (1.0, 5)
    for bad in [{"LIVECART_CHAT_BURST": "0"}, {"LIVECART_CHAT_RATE": "fast"},
                {"LIVECART_CHAT_RATE": "0"}]:  # fmt: skip
        with pytest.raises(ConfigError):
            Settings.from_env({**bad, "SECRET_KEY": "k"})


async def test_rate_limit_per_user_per_live_with_a_configured_burst(settings: Settings) -> None:
    async with (
        chat_server(settings, chat_rate=1.0, chat_burst=2) as server,
        rest_for(server.url) as rest,
    ):
        creator, live_id, (vera, walt) = await setup(rest, "vera", "walt")
        other_live = (await rest.live(creator, start=True))["id"]
        async with (
            ws_for(server, live_id, vera) as v,
            ws_for(server, live_id, vera) as v2,
            ws_for(server, live_id, walt) as w,
            ws_for(server, other_live, vera) as v_elsewhere,
        ):
            for ws in (v, v2, w, v_elsewhere):
                await joined(ws)
            await say(v, "one")
            await say(v, "two")
            await say(v, "three")
            check_chat(await expect(v, "chat"), vera, "one")
            check_chat(await expect(v, "chat"), vera, "two")
            data = await refused(v, "rate_limited")
            assert 0 < data["retry_after"] <= 1.0, data
            # Per user, not per socket: her second socket shares the bucket.
            await say(v2, "from my phone")
            check_chat(await expect(v2, "chat"), vera, "one")
            check_chat(await expect(v2, "chat"), vera, "two")
            data2 = await refused(v2, "rate_limited")
            assert 0 < data2["retry_after"] <= 1.0, data2
            # Other users, and the same user on another live, are not affected.
            await say(w, "walt here")
            check_chat(await expect(w, "chat"), vera, "one")
            check_chat(await expect(w, "chat"), vera, "two")
            check_chat(await expect(w, "chat"), walt, "walt here")
            await say(v_elsewhere, "other show")
            check_chat(await expect(v_elsewhere, "chat"), vera, "other show")
            # The refused ones were shown to nobody.
            for ws in (v, v2):
                check_chat(await expect(ws, "chat"), walt, "walt here")
                await pong(ws)

            # Once retry_after has passed (time is the subject here), a token is back.
            await asyncio.sleep(data2["retry_after"] + 0.05)
            await say(v2, "patience")
            check_chat(await expect(v2, "chat"), vera, "patience")
        texts = [m["text"] for m in await chat_log(rest, live_id)]
        assert texts == ["one", "two", "walt here", "patience"]


async def slow_mode_put(rest: Rest, who: Who | None, live_id: int, body: Any) -> httpx.Response:
    return await rest.http.put(f"/api/lives/{live_id}/slow-mode", json=body, headers=auth(who))


async def test_slow_mode_over_rest_and_frames(server: LiveServer, rest: Rest) -> None:
    creator, live_id, (vera, walt, mona) = await setup(rest, "vera", "walt", "mona")
    await rest.moderator(creator, live_id, "mona")
    async with (
        ws_for(server, live_id, vera) as v,
        ws_for(server, live_id, walt) as w,
        ws_for(server, live_id, mona) as m,
        ws_for(server, live_id, creator) as c,
        ws_for(server, live_id) as anon,
    ):
        everyone = (v, w, m, c, anon)
        snaps = [await joined(ws) for ws in everyone]
        assert snaps[0]["data"]["slow_mode"] == 0
        head = snaps[0]["data"]["seq"]

        resp = await slow_mode_put(rest, creator, live_id, {"seconds": 30})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"slow_mode": {"seconds": 30}}
        for ws in everyone:
            frame = await expect(ws, "slow_mode")
            assert (frame["seq"], frame["data"]) == (head + 1, {"seconds": 30})

        await say(v, "first")
        check_chat(await expect(v, "chat"), vera, "first")
        await say(v, "second too soon")
        data = await refused(v, "slow_mode")
        assert 25 < data["retry_after"] <= 30, data
        # Per user: walt is not held back by vera's message.
        await say(w, "walt's first")
        check_chat(await until_mine(w, "walt"), walt, "walt's first")
        # The creator and moderators are exempt.
        for ws, who in ((c, creator), (m, mona)):
            name = who["user"]["username"]
            for text in ("a", "b", "c"):
                await say(ws, f"{name} {text}")
                check_chat(await until_mine(ws, name), who, f"{name} {text}")

        async with ws_for(server, live_id) as late:
            assert (await snapshot(late))["data"]["slow_mode"] == 30

        # A moderator turns it off with a frame: announced to all, vera can talk again.
        await send(m, {"type": "slow_mode", "seconds": 0})
        for ws in everyone:
            while (frame := await next_frame(ws))["type"] == "chat":
                pass
            assert frame["type"] == "slow_mode", frame
            assert frame["data"] == {"seconds": 0} and isinstance(frame["seq"], int)
        texts = ["first", "walt's first"] + [f"{n} {t}" for n in ("cara", "mona") for t in "abc"]
        assert [msg["text"] for msg in await chat_log(rest, live_id)] == texts
        await say(v, "free again")
        check_chat(await expect(v, "chat"), vera, "free again")
        check_chat(await expect(m, "chat"), vera, "free again")

        # Bad values are validation errors, over frames and REST; nothing changes.
        for bad in (-1, 3601, "10", None, 1.5):
            await send(m, {"type": "slow_mode", "seconds": bad})
            await refused(m, "validation_error")
            resp = await slow_mode_put(rest, creator, live_id, {"seconds": bad})
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["code"] == "validation_error"
        await pong(m)
        async with ws_for(server, live_id) as late:
            assert (await snapshot(late))["data"]["slow_mode"] == 0


async def test_lowering_slow_mode_applies_the_new_interval_at_once(
    server: LiveServer, rest: Rest
) -> None:
    creator, live_id, (vera,) = await setup(rest, "vera")
    async with ws_for(server, live_id, vera) as v:
        await joined(v)
        assert (await slow_mode_put(rest, creator, live_id, {"seconds": 60})).status_code == 200
        await expect(v, "slow_mode")
        await say(v, "hello")
        check_chat(await expect(v, "chat"), vera, "hello")
        # The creator relaxes slow mode to one message a second.
        assert (await slow_mode_put(rest, creator, live_id, {"seconds": 1})).status_code == 200
        await expect(v, "slow_mode")
        await asyncio.sleep(1.1)  # the new interval passing is the subject
        await say(v, "a second later")
        frame = await next_frame(v)
        assert frame["type"] == "chat", (
            f"one message a second, yet refused a second later: {frame['data']}"
        )


# ---- item 5: a flood from one client slows nobody else


async def test_a_flooding_client_is_throttled_without_slowing_the_live(
    server: LiveServer, rest: Rest
) -> None:
    creator, live_id, (flo, vera, theo) = await setup(rest, "flo", "vera", "theo")
    product = await rest.product(creator, title="Lamp")
    async with watching(server, live_id, flo, vera, theo) as (flooder, v, t):
        flooder_got: list[Frame] = []
        throttled = asyncio.Event()

        async def read_flooder() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    flooder_got.append(frame := await next_frame(flooder, 30))
                    if frame["type"] == "error":
                        throttled.set()

        reader = asyncio.create_task(read_flooder())
        loop = asyncio.get_running_loop()
        flood_started = loop.time()
        try:
            for n in range(200):
                await say(flooder, f"spam {n}")

            # A third user's chat and the creator's pin reach vera promptly, with at most
            # flo's few accepted messages ahead of them.
            started = loop.time()
            await say(t, "is this lamp dimmable?")
            while True:
                frame = await next_frame(v, 3.0)
                if frame["type"] == "chat" and frame["data"]["user"]["username"] == "theo":
                    break
                assert frame["type"] == "chat" and frame["data"]["user"]["username"] == "flo"
            assert loop.time() - started < PROMPTLY
            check_chat(frame, theo, "is this lamp dimmable?")

            started = loop.time()
            await rest.pinned(creator, live_id, product["id"])
            while (frame := await next_frame(v, 3.0))["type"] != "pinned":
                assert frame["type"] == "chat" and frame["data"]["user"]["username"] == "flo"
            assert loop.time() - started < PROMPTLY
            assert frame["data"]["product"]["id"] == product["id"]

            # theo was never limited by flo's flood.
            check_chat(await until_mine(t, "theo"), theo, "is this lamp dimmable?")
            # flo is told to slow down, and is throttled, not thrown out.
            await asyncio.wait_for(throttled.wait(), WAIT)
            assert flooder.close_code is None
            await flooder.close()  # the reader keeps reading until the close completes
            await asyncio.wait_for(reader, WAIT)
            flood_took = loop.time() - flood_started  # every message of flo's handled
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

        errors = [f["data"] for f in flooder_got if f["type"] == "error"]
        assert {e["code"] for e in errors} == {"rate_limited"}, errors
        # (> 0 is what clients need; rounding can make it 0.0: see the test just below.)
        assert all(isinstance(e["retry_after"], int | float) for e in errors), errors
        accepted = [f for f in flooder_got if f["type"] == "chat" and
                    f["data"]["user"]["username"] == "flo"]  # fmt: skip
        # Burst 5 plus 1 a second while the flood lasted (under a second on an idle
        # machine, longer on a loaded one); nowhere near 200.
        assert 1 <= len(accepted) <= 5 + math.ceil(flood_took) + 1, (len(accepted), flood_took)
        assert len(await chat_log(rest, live_id)) == len(accepted) + 1


async def test_retry_after_is_never_zero(server: LiveServer, rest: Rest) -> None:
    """A refusal tells the client to wait a positive time, even when a token is only
    milliseconds away (the bucket is stubbed to say 4 ms: a real, timing-dependent case
    the flood above runs into now and then)."""
    _creator, live_id, (vera,) = await setup(rest, "vera")

    async def almost_refilled(_key: str, _rate: float, _burst: int) -> float:
        return 0.004

    server.state.hub.broker.take_token = almost_refilled  # type: ignore[method-assign,assignment]
    async with ws_for(server, live_id, vera) as v:
        await joined(v)
        await say(v, "hello")
        data = await refused(v, "rate_limited")
        assert data["retry_after"] > 0, data


async def until_mine(ws: ClientConnection, username: str) -> Frame:
    """The first chat frame from ``username`` (other chat frames skipped)."""
    while True:
        frame = await next_frame(ws)
        if frame["type"] == "chat" and frame["data"]["user"]["username"] == username:
            return frame
