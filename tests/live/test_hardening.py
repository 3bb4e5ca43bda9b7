"""Issue #11, finding 8 ("smaller holes"): blocked words that hide behind invisible or
look-alike characters, bidirectional overrides, URLs that reach other hosts, deeply
nested JSON, chat limits while Redis is unreachable, and currencies outside ISO 4217."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from app.settings import Settings
from live.chat import contains_blocked
from live.textnorm import fold
from tests import chat_helpers as chat
from tests.http_helpers import Api
from tests.live.test_show_scale import server_log
from tests.live_server import LiveServer, serve
from tests.services import free_port
from tests.ws_helpers import Rest, Who, auth, next_frame, rest_for

# ---- blocked words: invisible characters and look-alikes


@pytest.mark.parametrize(
    "text",
    [
        "s\u200bpam",  # zero-width space
        "sp\u00adam",  # soft hyphen
        "s\u200dp\u200ca\u2060m\ufeff",  # joiners, word joiner, BOM
        "ｓｐａｍ",  # fullwidth
        "SＰAM",
        "ѕрам",  # Cyrillic ѕ р а and м
        "ЅРАМ",  # Cyrillic capitals
        "buy ѕpаm now",
        "ѕ\u200bр\u00adаm!",  # both tricks at once
        "s\u0336p\u0336a\u0336m\u0336",  # strike-through combining marks
        "spa\u0303m",  # an accent added
    ],
)
def test_blocked_words_see_through_invisible_and_look_alike_characters(text: str) -> None:
    assert contains_blocked(text, ["spam"]), f"{text!r} evaded the blocked word 'spam'"


def test_folding_covers_the_listed_cyrillic_and_greek_look_alikes() -> None:
    cyrillic = "аеорсухіјѕԁԛԝ"
    assert fold(cyrillic) == "aeopcyxijsdqw"
    assert fold("АЕОРСУХІЈЅԚԜ") == "aeopcyxijsqw"
    assert fold("οαειδκνρτυχ".replace("δ", "")) == "oaeikvptux"
    assert fold("ΟΑΕΙΚΝΡΤΥΧ") == "oaeiknptyx"  # capital Nu is N, small nu is v
    # Blocked words with look-alikes in them match the plain spelling, and the reverse.
    assert contains_blocked("scam", ["ѕсаm"])
    assert contains_blocked("ѕсаm", ["SCAM"])
    # Whole words still: folding does not make "class" match "ass".
    assert not contains_blocked("сlass", ["ass"])
    assert not contains_blocked("spammer", ["spam"])
    # A blocked "word" made only of invisible characters folds to nothing: it blocks nothing
    # (rather than matching at every word boundary).
    assert not contains_blocked("hello there", ["\u200b\u00ad"])
    assert contains_blocked("spam", ["\u200b", "spam"])


async def test_evasions_are_refused_over_the_socket_and_stored_nowhere(
    server: LiveServer,
) -> None:
    async with rest_for(server.url) as rest:
        creator, live_id, (vera,) = await chat.setup(rest, "vera")
        resp = await rest.http.put(
            f"/api/lives/{live_id}/blocked-words", json={"words": ["spam"]}, headers=auth(creator)
        )
        assert resp.status_code == 200, resp.text
        async with chat.ws_for(server, live_id, vera) as v:
            await chat.joined(v)
            for text in ("s\u200bpam", "sp\u00adam", "ｓｐａｍ", "ѕрам", "SΡAM"):
                await chat.say(v, text)
                await chat.refused(v, "blocked_word")
            await chat.say(v, "ham")
            chat.check_chat(await chat.expect(v, "chat"), vera, "ham")
        assert [m["text"] for m in await chat.chat_log(rest, live_id)] == ["ham"]


# ---- bidirectional overrides

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


async def test_chat_refuses_bidi_overrides_with_a_code(server: LiveServer) -> None:
    async with rest_for(server.url) as rest:
        _creator, live_id, (vera,) = await chat.setup(rest, "vera")
        async with chat.ws_for(server, live_id, vera) as v:
            await chat.joined(v)
            for char in BIDI:
                await chat.say(v, f"nice gpj{char}.exe")
                data = await chat.refused(v, "invalid_text")
                assert "bidirectional" in data["message"], data
            await chat.say(v, "plain")
            chat.check_chat(await chat.expect(v, "chat"), vera, "plain")
        assert [m["text"] for m in await chat.chat_log(rest, live_id)] == ["plain"]


def field_error(resp: Any, field: str) -> str:
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error", error
    assert field in error["fields"], error
    message: str = error["fields"][field]
    return message


SHIPPING = {"name": "Ada", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001",
            "country": "FR"}  # fmt: skip


@pytest.mark.parametrize("char", BIDI)
def test_titles_and_names_refuse_bidi_overrides(api: Api, char: str) -> None:
    cara = api.register("cara", "creator")
    vera = api.register("vera")
    product = api.product(cara)
    sneaky = f"Mug{char}gpj.exe"
    post = api.client.post
    for body, field in [
        ({"title": sneaky, "price_cents": 100, "stock": 1}, "title"),
        ({"title": "Mug", "description": sneaky, "price_cents": 100, "stock": 1}, "description"),
    ]:
        message = field_error(post("/api/products", json=body, headers=api.auth(cara)), field)
        assert "bidirectional" in message
    patch = api.client.patch(
        f"/api/products/{product['id']}", json={"title": sneaky}, headers=api.auth(cara)
    )
    field_error(patch, "title")
    field_error(post("/api/lives", json={"title": sneaky}, headers=api.auth(cara)), "title")
    order = {"product_id": product["id"], "quantity": 1,
             "shipping": {**SHIPPING, "name": sneaky}}  # fmt: skip
    headers = {**api.auth(vera), "Idempotency-Key": "k1"}
    field_error(post("/api/orders", json=order, headers=headers), "shipping.name")
    # Nothing was stored.
    products = api.client.get("/api/products", headers=api.auth(cara)).json()["products"]
    assert [p["title"] for p in products] == ["Mug"]
    assert api.client.get("/api/lives").json()["lives"] == []


# ---- URLs that leave for another host

OTHER_HOSTS = ["//evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
               "/\\/evil.example", "///evil.example"]  # fmt: skip


@pytest.mark.parametrize("url", OTHER_HOSTS)
def test_urls_reaching_another_host_are_refused(api: Api, url: str) -> None:
    cara = api.register("cara", "creator")
    post = api.client.post
    for field in ("image_url", "url"):
        body = {"title": "Mug", "price_cents": 100, "stock": 1, field: url}
        field_error(post("/api/products", json=body, headers=api.auth(cara)), field)
    product = api.product(cara)
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"image_url": url}, headers=api.auth(cara)
    )
    field_error(resp, "image_url")
    body = {"title": "Show", "stream_url": url}
    field_error(post("/api/lives", json=body, headers=api.auth(cara)), "stream_url")


def test_paths_on_this_site_and_http_urls_still_pass(api: Api) -> None:
    cara = api.register("cara", "creator")
    for url in ("/static/mug.png", "/a", "/", "https://cdn.example.com/m.jpg", "http://x.example"):
        product = api.product(cara, image_url=url, url=url)
        assert (product["image_url"], product["url"]) == (url, url)
        resp = api.client.post(
            "/api/lives", json={"title": "Show", "stream_url": url}, headers=api.auth(cara)
        )
        assert resp.status_code == 201, resp.text


# ---- deeply nested JSON

DEEP = "[" * 2000 + "]" * 2000  # fits the 4 KiB frame cap


async def test_a_deeply_nested_frame_is_invalid_json_and_logs_nothing(server: LiveServer) -> None:
    async with rest_for(server.url) as rest:
        _creator, live_id, (vera,) = await chat.setup(rest, "vera")
        async with chat.ws_for(server, live_id, vera) as v:
            await chat.joined(v)
            with server_log() as logged:
                for frame in (DEEP, '{"type": "chat", "text": ' + "[" * 1990 + "]" * 1990 + "}"):
                    await v.send(frame)
                    await chat.refused(v, "invalid_json")
                await chat.pong(v)  # the socket stays open and answers
            assert logged.problems() == []


def test_a_deeply_nested_body_is_invalid_json(api: Api) -> None:
    cara = api.register("cara", "creator")
    for body in (DEEP, '{"title": ' + "[" * 5000 + "]" * 5000 + "}"):
        resp = api.client.post(
            "/api/products",
            content=body,
            headers={**api.auth(cara), "Content-Type": "application/json"},
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "invalid_json"


# ---- currency


def test_currency_must_be_an_iso_4217_code(api: Api) -> None:
    cara = api.register("cara", "creator")
    for code in ("ABC", "XYZ", "EUD"):
        body = {"title": "Mug", "price_cents": 100, "stock": 1, "currency": code}
        resp = api.client.post("/api/products", json=body, headers=api.auth(cara))
        assert "ISO 4217" in field_error(resp, "currency")
    product = api.product(cara, currency="EUR")
    assert product["currency"] == "EUR"
    assert api.product(cara, currency="JPY")["currency"] == "JPY"
    resp = api.client.patch(
        f"/api/products/{product['id']}", json={"currency": "ABC"}, headers=api.auth(cara)
    )
    field_error(resp, "currency")


# ---- chat limits on every way of running, Redis down included


@pytest.fixture(params=["memory", "redis", "redis_down"])
def limiter(request: pytest.FixtureRequest) -> str | None:
    """The REDIS_URL for the server: none (embedded), a live Redis, or a dead port."""
    if request.param == "memory":
        return None
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: every command fails


@contextlib.asynccontextmanager
async def chat_setup(
    settings: Settings, redis_url: str | None, **limits: Any
) -> AsyncIterator[tuple[LiveServer, Rest]]:
    changed = replace(settings, redis_url=redis_url, presence_interval_s=0.1, **limits)
    async with serve(changed) as server, rest_for(server.url) as rest:
        yield server, rest


@contextlib.contextmanager
def no_errors_logged() -> Iterator[None]:
    with server_log() as logged:
        yield
    assert logged.problems() == []


async def answers_to(ws: ClientConnection, who: Who, texts: list[str]) -> list[str]:
    """Send ``texts`` back to back; for each, the accepted text or the error code."""
    for text in texts:
        await chat.say(ws, text)
    answers: list[str] = []
    while len(answers) < len(texts):
        frame = await next_frame(ws)
        if frame["type"] == "error":
            answers.append(frame["data"]["code"])
        elif frame["type"] == "chat" and frame["data"]["user"]["id"] == who["user"]["id"]:
            answers.append(chat.check_chat(frame, who, frame["data"]["text"])["text"])
        else:  # others' chat, announcements
            assert frame["type"] in {"chat", "slow_mode"}, frame
    return answers


async def test_slow_mode_holds_with_and_without_redis(
    settings: Settings, limiter: str | None
) -> None:
    async with chat_setup(settings, limiter, chat_rate=100.0, chat_burst=100) as (server, rest):
        creator, live_id, (vera, walt) = await chat.setup(rest, "vera", "walt")
        resp = await rest.http.put(
            f"/api/lives/{live_id}/slow-mode", json={"seconds": 30}, headers=auth(creator)
        )
        assert resp.status_code == 200, resp.text
        async with chat.ws_for(server, live_id, vera) as v, chat.ws_for(server, live_id, walt) as w:
            await chat.joined(v)
            await chat.joined(w)
            with no_errors_logged():
                texts = [f"m{i}" for i in range(12)]
                answers = await answers_to(v, vera, texts)
                assert answers == ["m0"] + ["slow_mode"] * 11, answers
                # Per user: walt still has his one message.
                assert await answers_to(w, walt, ["hi", "again"]) == ["hi", "slow_mode"]
        stored = [m["text"] for m in await chat.chat_log(rest, live_id)]
        assert stored == ["m0", "hi"]


async def test_rate_and_burst_hold_with_and_without_redis(
    settings: Settings, limiter: str | None
) -> None:
    # A slow refill (one message every 20 s) so the burst alone decides, however slow the host.
    async with chat_setup(settings, limiter, chat_rate=0.05, chat_burst=3) as (server, rest):
        _creator, live_id, (vera, walt) = await chat.setup(rest, "vera", "walt")
        async with chat.ws_for(server, live_id, vera) as v, chat.ws_for(server, live_id, walt) as w:
            await chat.joined(v)
            await chat.joined(w)
            with no_errors_logged():
                answers = await answers_to(v, vera, [f"m{i}" for i in range(8)])
                assert answers == ["m0", "m1", "m2"] + ["rate_limited"] * 5, answers
                answers = await answers_to(w, walt, ["a", "b", "c", "d"])
                assert answers == ["a", "b", "c", "rate_limited"], answers
