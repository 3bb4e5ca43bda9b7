"""The seam checkout writes through: ``live.publisher.Publisher`` (what a process without a
hub, the worker, publishes with) and ``app.commerce.Commerce`` over it. Frames go out only
for what commits, in log order, this process's viewers first; a failed publish never
undoes a commit; a deal's units read for a ``stock`` frame include the transaction's own."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from common import keys
from live import deals
from live.frames import Frame
from live.publisher import Publisher
from live.redis_broker import RedisOutlet, redis_client
from tests.live_server import LiveServer
from tests.ws_helpers import Rest


class Recording:
    """An ``Outlet`` that keeps what was published, in order, or raises when ``fail``."""

    def __init__(self, sent: list[tuple[str, str]] | None = None, *, fail: bool = False) -> None:
        self.sent = sent if sent is not None else []
        self.fail = fail
        self.round_trips = 0

    async def publish(self, channel: str, message: str) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.round_trips += 1
        self.sent.extend(messages)


async def running_live(rest: Rest) -> int:
    owner = await rest.register("owner", "creator")
    live_id: int = (await rest.live(owner, start=True))["id"]
    return live_id


async def test_what_commits_goes_out_in_log_order_to_this_process_first(
    server: LiveServer, rest: Rest
) -> None:
    lid = await running_live(rest)
    seen: list[tuple[str, str]] = []

    def here(live_id: int, frame: Frame) -> None:
        seen.append((f"here:{live_id}", frame.text))

    publisher = Publisher(Recording(seen), server.state.db, here)
    async with publisher.transaction() as batch:
        await batch.append_many(lid, [("stock", {"n": 1}), ("stock", {"n": 2})])
    first, second = (frame.text for _live, frame in batch.frames)
    channel = keys.live_channel(lid)
    assert seen == [(f"here:{lid}", first), (channel, first), (f"here:{lid}", second),
                    (channel, second)]  # fmt: skip
    assert [e["data"] for e in (await rest.events(lid))[-2:]] == [{"n": 1}, {"n": 2}]


async def test_nothing_goes_out_for_a_transaction_that_rolled_back(
    server: LiveServer, rest: Rest
) -> None:
    lid = await running_live(rest)
    before = await rest.events(lid)
    outlet = Recording()
    publisher = Publisher(outlet, server.state.db)
    with pytest.raises(LookupError):
        async with publisher.transaction() as batch:
            await batch.append(lid, "stock", {"n": 1})
            raise LookupError("changed my mind")
    assert outlet.sent == []
    assert await rest.events(lid) == before


async def test_a_failed_publish_is_logged_and_the_commit_stands(
    server: LiveServer, rest: Rest, caplog: pytest.LogCaptureFixture
) -> None:
    lid = await running_live(rest)
    publisher = Publisher(Recording(fail=True), server.state.db)
    async with publisher.transaction() as batch:
        await batch.append(lid, "stock", {"n": 7})
    await publisher.send_private_many([(1, Frame.make("order", lid, {}))])
    await publisher.control(lid, "ban", 1)
    assert (await rest.events(lid))[-1]["data"] == {"n": 7}
    for lost in ("publish of live", "private frames lost", "roster change of live"):
        assert lost in caplog.text


async def test_private_frames_go_in_one_round_trip_on_their_users_channels(
    server: LiveServer,
) -> None:
    outlet = Recording()
    publisher = Publisher(outlet, server.state.db)
    frames = [(5, Frame.make("order", 1, {"n": 1})), (6, Frame.make("order", None, {"n": 2}))]
    await publisher.send_private_many(frames)
    assert outlet.round_trips == 1
    assert outlet.sent == [(keys.user_channel(u), f.text) for u, f in frames]


async def test_a_redis_outlet_publishes_in_order_without_a_subscription_of_its_own(
    redis_url: str,
) -> None:
    client: Redis = redis_client(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    try:
        await listener.subscribe(keys.user_channel(5), keys.user_channel(6))
        outlet = RedisOutlet(client)
        await outlet.publish_many([(keys.user_channel(5), "a"), (keys.user_channel(6), "b")])
        await outlet.publish(keys.user_channel(5), "c")
        got: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(5):
            while len(got) < 3:
                message = await listener.get_message(timeout=1.0)
                if message is not None:
                    got.append((message["channel"], message["data"]))
        assert got == [(b"livecart:user:5", b"a"), (b"livecart:user:6", b"b"),
                       (b"livecart:user:5", b"c")]  # fmt: skip
    finally:
        await listener.aclose()
        await client.aclose()


async def test_a_stock_frame_shows_the_deal_units_this_transaction_took(
    server: LiveServer, rest: Rest
) -> None:
    owner = await rest.register("owner", "creator")
    lid = (await rest.live(owner, start=True))["id"]
    pid = (await rest.product(owner, stock=10, price_cents=2000))["id"]
    await rest.pinned(owner, lid, pid, price_cents=500, quantity=5, duration_s=60)
    buyer = (await rest.register("buyer"))["user"]["id"]
    async with server.state.commerce.transaction() as unit:
        await unit.deals.lock_lives(unit.session, [lid])
        terms = await unit.deals.terms(unit.session, lid, pid, [buyer])
        assert (terms.price_cents, terms.remaining) == (500, 5)
        left = await unit.deals.take(lid, terms.pin_id or 0, {buyer: 2})
        assert left == await deals.remaining(unit.session, lid, pid) == 3
        await unit.announcer.stock_changed(pid, 8, 2, [lid])
    stock = (await rest.events(lid))[-1]
    assert (stock["type"], stock["data"]["deal_remaining"]) == ("stock", 3)
