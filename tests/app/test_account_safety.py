"""Account safety over real sockets: throttled logins and registrations, revocable
tokens (password change, sign out, sign out everywhere, disable), roles that change at
once — in one process, and across two apps sharing Redis as two processes would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect

from app import accounts, feed, revocation
from app.accounts import Role
from app.errors import ApiError
from app.settings import Settings
from app.throttle import Throttle
from live import close_codes
from live.redis_broker import RedisBroker, redis_client
from tests.http_helpers import http_client
from tests.live_server import LiveServer, serve
from tests.ws_helpers import Rest, Who, auth, close_code, make_user, send, snapshot, until

PASSWORD = "password123"


@contextlib.asynccontextmanager
async def running(settings: Settings, **limits: int) -> AsyncIterator[tuple[LiveServer, Rest]]:
    async with (
        serve(replace(settings, **limits)) as srv,
        http_client(srv.url) as http,
    ):
        yield srv, Rest(http)


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password Argon2 checks, in order (to see which attempts cost one)."""
    checked: list[str] = []
    real = accounts._verify

    async def counting(password_hash: str, password: str) -> bool:
        checked.append(password)
        return await real(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", counting)
    return checked


async def login(rest: Rest, username: str, password: str) -> httpx.Response:
    return await rest.http.post(
        "/api/auth/login", json={"username": username, "password": password}
    )


def assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(resp.headers["retry-after"]) <= 15 * 60


# ---- throttling


async def test_failed_logins_per_account_are_throttled_before_the_password_is_checked(
    settings: Settings, verified: list[str]
) -> None:
    async with running(settings, login_failures_per_account=3) as (_srv, rest):
        await rest.register("victim")
        for _ in range(3):
            assert (await login(rest, "victim", "wrong-guess")).status_code == 401
        # The right password now gets 429 too: it is not even checked.
        assert_limited(await login(rest, "victim", PASSWORD))
        assert verified == ["wrong-guess"] * 3
        # Another account is not affected.
        await rest.register("bystander")
        assert (await login(rest, "bystander", PASSWORD)).status_code == 200


async def test_a_burst_of_guesses_at_once_checks_no_more_passwords_than_the_limit(
    settings: Settings, verified: list[str]
) -> None:
    async with running(settings, login_failures_per_account=4) as (_srv, rest):
        await rest.register("victim")
        answers = await asyncio.gather(*(login(rest, "victim", f"guess-{i}") for i in range(40)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [401] * 4 + [429] * 36
        assert len(verified) == 4


async def test_a_successful_login_forgives_the_accounts_failures(settings: Settings) -> None:
    async with running(settings, login_failures_per_account=3) as (_srv, rest):
        await rest.register("forgetful")
        for _round in range(3):
            for _ in range(2):
                assert (await login(rest, "forgetful", "not-it-again")).status_code == 401
            assert (await login(rest, "forgetful", PASSWORD)).status_code == 200


async def test_failed_logins_per_address_are_throttled_across_accounts(
    settings: Settings, verified: list[str]
) -> None:
    async with running(settings, login_failures_per_account=100, login_failures_per_address=5) as (
        _srv,
        rest,
    ):
        await rest.register("someone")
        for i in range(5):  # a sprayer tries one password on many (unknown) accounts
            assert (await login(rest, f"user_{i}", "Summer2026!")).status_code == 401
        assert_limited(await login(rest, "someone", PASSWORD))
        assert len(verified) == 5


async def test_registrations_per_address_are_limited(settings: Settings) -> None:
    async with running(settings, registrations_per_address=3) as (_srv, rest):
        for i in range(3):
            await rest.register(f"fresh_{i}")
        resp = await rest.http.post(
            "/api/auth/register", json={"username": "one_more", "password": PASSWORD}
        )
        assert_limited(resp)
        # Nothing was written for the refused one.
        assert (await login(rest, "one_more", PASSWORD)).status_code == 401


async def test_with_redis_the_limits_are_shared_by_every_process(
    settings: Settings, redis_url: str, verified: list[str]
) -> None:
    shared = replace(settings, redis_url=redis_url)
    async with (
        running(shared, login_failures_per_account=4) as (_a, one),
        running(shared, login_failures_per_account=4) as (_b, other),
    ):
        await one.register("victim")
        for rest in (one, other, one, other):
            assert (await login(rest, "victim", "wrong-guess")).status_code == 401
        assert_limited(await login(other, "victim", PASSWORD))
        assert_limited(await login(one, "victim", PASSWORD))
        assert len(verified) == 4


# ---- revocation


async def connected_then_closed(srv: LiveServer, live_id: int, who: Who) -> Awaitable[int | None]:
    """A socket of ``who`` that has joined; awaiting the result gives its close code."""
    ws = await connect(srv.ws_url(live_id, token=who["token"]))
    await snapshot(ws)

    async def closed() -> int | None:
        async with ws:
            return await close_code(ws)

    return asyncio.ensure_future(closed())


async def admin_and_show(server: LiveServer, rest: Rest) -> tuple[Who, dict[str, Any]]:
    """An admin ("root"), and a running live of a creator ("host")."""
    admin = await make_user(server.state, "root", Role.ADMIN)
    creator = await rest.register("host", "creator")
    return admin, await rest.live(creator, start=True)


async def troll_watching(server: LiveServer, rest: Rest) -> tuple[Who, Who, Awaitable[int | None]]:
    """``admin_and_show``'s admin, and a viewer "troll" watching the live: (admin, troll,
    the close code of troll's socket, once it closes)."""
    admin, live = await admin_and_show(server, rest)
    troll = await rest.register("troll")
    return admin, troll, await connected_then_closed(server, live["id"], troll)


async def me(rest: Rest, who: Who) -> httpx.Response:
    return await rest.http.get("/api/me", headers=auth(who))


async def soon(call: Callable[[], Awaitable[httpx.Response]], status: int) -> httpx.Response:
    """``call`` until it answers ``status``: other processes learn of an account change
    one broker hop later (milliseconds)."""
    for _ in range(200):
        resp = await call()
        if resp.status_code == status:
            return resp
        await asyncio.sleep(0.01)
    raise AssertionError(f"the other process still answers {resp.status_code}: {resp.text}")


async def revoked_soon(call: Callable[[], Awaitable[httpx.Response]]) -> None:
    assert_revoked(await soon(call, 401))


def assert_revoked(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "token_revoked"


async def test_changing_the_password_revokes_every_older_token_and_socket(
    server: LiveServer,
) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        creator = await rest.register("host", "creator")
        live = await rest.live(creator, start=True)
        phone = await rest.register("shopper")
        laptop = (await login(rest, "shopper", PASSWORD)).json()
        closing = await connected_then_closed(server, live["id"], laptop)
        resp = await http.post(
            "/api/me/password",
            json={"current_password": PASSWORD, "new_password": "a-new-secret"},
            headers=auth(phone),
        )
        assert resp.status_code == 200, resp.text
        fresh = resp.json()
        assert fresh["user"]["username"] == "shopper"
        assert await closing == close_codes.BAD_TOKEN
        for old in (phone, laptop):
            assert_revoked(await me(rest, old))
        assert (await me(rest, fresh)).status_code == 200
        assert (await login(rest, "shopper", PASSWORD)).status_code == 401
        assert (await login(rest, "shopper", "a-new-secret")).status_code == 200
        # An old token cannot open a socket either.
        async with connect(server.ws_url(live["id"], token=phone["token"])) as ws:
            assert await close_code(ws) == close_codes.BAD_TOKEN


async def test_a_wrong_current_password_changes_nothing(server: LiveServer) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        who = await rest.register("careful")
        resp = await http.post(
            "/api/me/password",
            json={"current_password": "not-the-one", "new_password": "a-new-secret"},
            headers=auth(who),
        )
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "invalid_credentials"
        assert (await me(rest, who)).status_code == 200
        short = await http.post(
            "/api/me/password",
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=auth(who),
        )
        assert short.status_code == 422
        assert (await login(rest, "careful", PASSWORD)).status_code == 200


async def test_logout_revokes_this_token_only_and_everywhere_revokes_all(
    server: LiveServer,
) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        first = await rest.register("traveller")
        second = (await login(rest, "traveller", PASSWORD)).json()
        third = (await login(rest, "traveller", PASSWORD)).json()
        assert (await http.post("/api/auth/logout", headers=auth(first))).status_code == 204
        assert_revoked(await me(rest, first))
        assert (await me(rest, second)).status_code == 200
        everywhere = await http.post(
            "/api/auth/logout", json={"everywhere": True}, headers=auth(second)
        )
        assert everywhere.status_code == 204
        assert_revoked(await me(rest, second))
        assert_revoked(await me(rest, third))
        assert (await http.post("/api/auth/logout")).status_code == 401
        again = (await login(rest, "traveller", PASSWORD)).json()
        assert (await me(rest, again)).status_code == 200


async def test_an_admin_disables_an_account_its_tokens_and_sockets_die_at_once(
    server: LiveServer, rest: Rest
) -> None:
    http = rest.http
    admin, troll, closing = await troll_watching(server, rest)
    creator = (await login(rest, "host", PASSWORD)).json()
    refused = await http.post("/api/users/troll/disable", headers=auth(creator))
    assert refused.status_code == 403
    resp = await http.post("/api/users/troll/disable", headers=auth(admin))
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["username"] == "troll"
    assert await closing == close_codes.BAD_TOKEN
    assert_revoked(await me(rest, troll))
    denied = await login(rest, "troll", PASSWORD)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "account_disabled")
    missing = await http.post("/api/users/nobody_here/disable", headers=auth(admin))
    assert missing.status_code == 404
    assert (await http.post("/api/users/troll/enable", headers=auth(admin))).status_code == 200
    assert_revoked(await me(rest, troll))  # enabling does not bring old tokens back
    assert (await login(rest, "troll", PASSWORD)).status_code == 200


async def test_a_role_change_applies_to_the_next_request(server: LiveServer) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        admin = await make_user(server.state, "root", Role.ADMIN)
        seller = await rest.register("seller", "creator")
        await rest.product(seller)  # the user is now in the cache as a creator
        resp = await http.put(
            "/api/users/seller/role", json={"role": "viewer"}, headers=auth(admin)
        )
        assert resp.status_code == 200
        assert resp.json()["user"]["role"] == "viewer"
        denied = await http.post(
            "/api/products", json={"title": "Mug", "price_cents": 100, "stock": 1},
            headers=auth(seller),
        )  # fmt: skip
        assert denied.status_code == 403


async def test_with_redis_revocations_reach_every_process_at_once(
    settings: Settings, redis_url: str
) -> None:
    shared = replace(settings, redis_url=redis_url)
    async with running(shared) as (srv_a, one), running(shared) as (srv_b, other):
        creator = await one.register("host", "creator")
        live = await one.live(creator, start=True)
        admin = await make_user(srv_a.state, "root", Role.ADMIN)
        shopper = await one.register("shopper")
        spare = (await login(one, "shopper", PASSWORD)).json()
        # Both processes have the user cached, and a socket open on the other one.
        assert (await me(one, shopper)).status_code == 200
        assert (await me(other, shopper)).status_code == 200
        closing = await connected_then_closed(srv_b, live["id"], shopper)
        assert (await one.http.post("/api/auth/logout", headers=auth(spare))).status_code == 204
        await revoked_soon(lambda: me(other, spare))
        await one.http.put("/api/users/shopper/role", json={"role": "creator"}, headers=auth(admin))
        mug = {"title": "Mug", "price_cents": 100, "stock": 1}
        made = await soon(
            lambda: other.http.post("/api/products", json=mug, headers=auth(shopper)), 201
        )
        assert made.json()["product"]["title"] == "Mug"
        await one.http.post("/api/users/shopper/disable", headers=auth(admin))
        assert await closing == close_codes.BAD_TOKEN
        await revoked_soon(lambda: me(other, shopper))


async def test_revoked_tokens_stay_revoked_after_a_restart(settings: Settings) -> None:
    async with running(settings) as (_srv, rest):
        who = await rest.register("steady")
        assert (await rest.http.post("/api/auth/logout", headers=auth(who))).status_code == 204
    async with running(settings) as (_srv, rest):
        assert_revoked(await me(rest, who))


async def test_a_signed_out_socket_is_told_why(server: LiveServer) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        creator = await rest.register("host", "creator")
        live = await rest.live(creator, start=True)
        who = await rest.register("viewer_one")
        async with connect(server.ws_url(live["id"], token=who["token"])) as ws:
            await snapshot(ws)
            await http.post("/api/auth/logout", json={"everywhere": True}, headers=auth(who))
            told = (await until(ws, "signed_out"))[-1]
            assert told["seq"] is None and told["data"]["close"] == close_codes.BAD_TOKEN
            assert await close_code(ws) == close_codes.BAD_TOKEN


async def test_without_its_redis_the_throttle_counts_in_this_process() -> None:
    # A broker whose Redis refuses connections (nothing listens on port 1).
    broker = RedisBroker("redis://127.0.0.1:1/0")
    broker._redis = redis_client(broker.url)
    throttle = Throttle(Settings(login_failures_per_account=2), broker)
    try:
        await throttle.login("192.0.2.1", "victim")
        await throttle.login("192.0.2.1", "victim")
        with pytest.raises(ApiError) as refused:
            await throttle.login("192.0.2.1", "victim")
        assert (refused.value.status, refused.value.code) == (429, "rate_limited")
        await throttle.login_succeeded("192.0.2.1", "victim")  # forgiven, here too
        await throttle.login("192.0.2.1", "victim")
    finally:
        await broker.redis.aclose()


# ---- races and lost announcements (found in review)


async def test_a_demoted_admins_open_socket_loses_the_powers_at_its_next_frame(
    server: LiveServer,
) -> None:
    async with http_client(server.url) as http:
        rest = Rest(http)
        boss = await make_user(server.state, "boss", Role.ADMIN)
        rogue = await make_user(server.state, "rogue", Role.ADMIN)
        creator = await rest.register("host", "creator")
        live = await rest.live(creator, start=True)
        async with connect(server.ws_url(live["id"], token=rogue["token"])) as ws:
            await snapshot(ws)
            await send(ws, {"type": "slow_mode", "seconds": 30})
            assert (await until(ws, "slow_mode"))[-1]["data"]["seconds"] == 30
            resp = await http.put(
                "/api/users/rogue/role", json={"role": "viewer"}, headers=auth(boss)
            )
            assert resp.status_code == 200
            await send(ws, {"type": "slow_mode", "seconds": 0})
            refused = (await until(ws, "error"))[-1]
            assert refused["data"]["code"] == "forbidden"


async def test_an_admin_cannot_change_their_own_role(server: LiveServer) -> None:
    async with http_client(server.url) as http:
        boss = await make_user(server.state, "boss", Role.ADMIN)
        resp = await http.put("/api/users/boss/role", json={"role": "viewer"}, headers=auth(boss))
        assert (resp.status_code, resp.json()["error"]["code"]) == (409, "invalid_state")


async def test_a_socket_still_joining_when_its_account_is_disabled_is_closed(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    real = feed.snapshot

    async def held(*args: Any) -> Any:
        entered.set()
        await release.wait()
        return await real(*args)

    monkeypatch.setattr(feed, "snapshot", held)
    async with http_client(server.url) as http:
        rest = Rest(http)
        admin, live = await admin_and_show(server, rest)
        troll = await rest.register("troll")
        async with connect(server.ws_url(live["id"], token=troll["token"])) as ws:
            await entered.wait()  # signed in, building the first snapshot
            resp = await http.post("/api/users/troll/disable", headers=auth(admin))
            assert resp.status_code == 200
            release.set()
            assert await close_code(ws) == close_codes.BAD_TOKEN


async def test_a_password_change_that_lost_the_race_changes_nothing(server: LiveServer) -> None:
    async with http_client(server.url) as http:
        who = await Rest(http).register("racer")
        claims = server.state.tokens.verify(who["token"])
        async with server.state.db.write() as session:
            await accounts.revoke_all(session, claims.user_id)  # "sign out everywhere" won
        with pytest.raises(ApiError) as lost:
            async with server.state.db.write() as session:
                await accounts.set_password(session, claims.user_id, claims.version, "x")
        assert lost.value.code == "token_revoked"
        assert (await login(Rest(http), "racer", PASSWORD)).status_code == 200


async def test_a_disabled_accounts_sockets_here_close_even_if_the_broker_fails(
    server: LiveServer, rest: Rest, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = rest.http
    admin, _troll, closing = await troll_watching(server, rest)

    async def broken(_messages: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(server.state.hub.broker, "publish_many", broken)
    resp = await http.post("/api/users/troll/disable", headers=auth(admin))
    assert resp.status_code == 200
    assert await closing == close_codes.BAD_TOKEN


async def test_a_lost_announcement_is_made_good_by_the_reload(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "RELOAD_S", 0.1)
    shared = replace(settings, redis_url=redis_url)
    async with running(shared) as (srv_a, one), running(shared) as (_srv_b, other):
        who = await one.register("shopper")
        assert (await me(other, who)).status_code == 200

        async def lost(_channel: str, _message: str) -> None:
            raise ConnectionError("publish lost")

        monkeypatch.setattr(srv_a.state.hub.broker, "publish", lost)
        assert (await one.http.post("/api/auth/logout", headers=auth(who))).status_code == 204
        await revoked_soon(lambda: me(other, who))
