"""Users for authentication (``app.users.UserCache``): misses that arrive together are
read together, and a token names its user on every request without a query each."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from app.accounts import Role, User
from app.tokens import TokenSigner
from app.users import UserCache
from common.times import utcnow
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.ws_helpers import auth, make_user


def user(uid: int) -> User:
    return User(id=uid, username=f"u{uid}", password_hash="x", role="viewer", created_at=utcnow())


class Directory:
    """A fetch function that records each call (a stand-in for the users table)."""

    def __init__(self, known: Iterable[int]) -> None:
        self.known = set(known)
        self.calls: list[list[int]] = []
        self.fail_next = False

    async def fetch(self, ids: list[int]) -> list[User]:
        self.calls.append(sorted(ids))
        await asyncio.sleep(0)  # a real query yields to the loop
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database went away")
        return [user(i) for i in ids if i in self.known]


async def test_misses_arriving_together_are_read_in_one_query() -> None:
    cache, directory = UserCache(), Directory(range(1, 101))
    found = await asyncio.gather(*(cache.load(i, directory.fetch) for i in range(1, 101)))
    assert [u.id for u in found if u is not None] == list(range(1, 101))
    assert directory.calls == [list(range(1, 101))]
    # Now cached: no query at all.
    again = await asyncio.gather(*(cache.load(i, directory.fetch) for i in (1, 50, 100)))
    assert [u.id for u in again if u is not None] == [1, 50, 100]
    assert len(directory.calls) == 1


async def test_one_user_asked_many_times_at_once_is_read_once() -> None:
    cache, directory = UserCache(), Directory([7])
    found = await asyncio.gather(*(cache.load(7, directory.fetch) for _ in range(20)))
    assert {u.id for u in found if u is not None} == {7}
    assert directory.calls == [[7]]


async def test_batches_are_bounded_and_unknown_ids_are_none() -> None:
    cache, directory = UserCache(max_batch=10), Directory(range(0, 25, 2))
    found = await asyncio.gather(*(cache.load(i, directory.fetch) for i in range(25)))
    assert [u is not None for u in found] == [i % 2 == 0 for i in range(25)]
    assert [len(c) for c in directory.calls] == [10, 10, 5]
    # A miss is not remembered: the user may be created the next moment.
    directory.known.add(1)
    assert (await cache.load(1, directory.fetch)) is not None


async def test_a_failed_read_fails_its_waiters_and_the_next_load_retries() -> None:
    cache, directory = UserCache(), Directory([1, 2])
    directory.fail_next = True
    results = await asyncio.gather(
        cache.load(1, directory.fetch), cache.load(2, directory.fetch), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert (await cache.load(1, directory.fetch)) is not None
    assert len(directory.calls) == 2


async def test_entries_expire() -> None:
    cache, directory = UserCache(ttl_s=0.0), Directory([3])
    await cache.load(3, directory.fetch)
    await cache.load(3, directory.fetch)
    assert len(directory.calls) == 2


async def test_a_forgotten_user_is_read_again_even_if_a_read_was_in_flight() -> None:
    cache, directory = UserCache(ttl_s=60.0), Directory([5])
    assert await cache.load(5, directory.fetch) is not None
    cache.forget(5)
    assert await cache.load(5, directory.fetch) is not None
    assert directory.calls == [[5], [5]]
    # Forgotten while its read is under way: that read may hold the old row, so it is
    # handed to its waiter but not cached.
    cache.forget(5)
    reading = asyncio.ensure_future(cache.load(5, directory.fetch))
    await asyncio.sleep(0)  # the read has started
    cache.forget(5)
    await reading
    await cache.load(5, directory.fetch)
    assert directory.calls == [[5], [5], [5], [5]]
    await cache.load(5, directory.fetch)
    assert len(directory.calls) == 4  # read after the change: cached again


def test_tokens_signed_before_the_faster_digest_still_verify() -> None:
    from itsdangerous import URLSafeTimedSerializer

    # What TokenSigner issued before it named hashlib.sha1 itself (itsdangerous' default).
    old = URLSafeTimedSerializer("secret", salt="livecart.auth.v1").dumps({"uid": 42})
    signer = TokenSigner("secret", 3600)
    claims = signer.verify(old)
    assert (claims.user_id, claims.version, claims.token_id) == (42, 0, None)
    issued = URLSafeTimedSerializer("secret", salt="livecart.auth.v1").loads(signer.issue(9, 3))
    assert (issued["uid"], issued["v"]) == (9, 3)


async def test_new_users_first_requests_at_once(server: LiveServer) -> None:
    # Through a real server and database: every first request goes through the batched read.
    people = [await make_user(server.state, f"shopper{i}", Role.VIEWER) for i in range(30)]
    async with http_client(server.url, timeout=30) as http:
        answers = await asyncio.gather(*(http.get("/api/me", headers=auth(w)) for w in people))
    assert [r.json()["user"]["username"] for r in answers] == [f"shopper{i}" for i in range(30)]
    assert all(server.state.users.get(w["user"]["id"]) is not None for w in people)
