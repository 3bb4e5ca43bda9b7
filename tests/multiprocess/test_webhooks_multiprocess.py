"""Webhook deliveries from real `livecart worker` processes (contract: Webhooks): with
Redis the web process only writes the outbox; a worker sends. A worker SIGKILLed while
a receiver holds its request loses nothing: another worker sends the same event again
once the lease expires."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from app.settings import Settings
from tests.live_server import with_redis
from tests.multiprocess.test_worker import Worker, shopfront
from tests.webhook_helpers import receiving, settled, subscribe
from tests.ws_helpers import Rest

pytestmark = pytest.mark.slow

TIMEOUT_S = "1"  # each attempt: a lease of 2 x 1 + 5 = 7 s


def worker(settings: Settings, log: Path) -> Worker:
    made = Worker(settings, log)
    made.env["LIVECART_WEBHOOK_TIMEOUT_S"] = TIMEOUT_S
    return made


async def test_a_worker_killed_mid_delivery_loses_no_event(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    shared = with_redis(settings, redis_url)
    async with shopfront(settings, redis_url) as front:
        rest = Rest(front.http)
        owner = await rest.register("shopowner", "creator")
        product = await rest.product(owner, price_cents=1000, stock=10)
        with receiving(("hang", 30.0), "ok") as receiver:
            hook = await subscribe(rest, owner, receiver.url, "order.placed")
            doomed = worker(shared, tmp_path / "doomed.log").start()
            try:
                await doomed.running()
                await front.shop.place(front.buyer, product["id"])
                first = await asyncio.to_thread(receiver.take, 15.0)  # in flight now
                assert doomed.stop(signal.SIGKILL) == -signal.SIGKILL
            finally:
                doomed.stop(signal.SIGKILL)
            heir = worker(shared, tmp_path / "heir.log").start()
            try:
                await heir.running()
                again = await asyncio.to_thread(receiver.take, 20.0)  # after the lease
            finally:
                heir.stop()
        assert again.event["id"] == first.event["id"] and again.body == first.body
        (delivery,) = await settled(rest, owner, hook["id"])
        assert delivery["status"] == "delivered", (delivery, heir.output())
        # The killed worker never recorded its attempt; the heir's is the one there.
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert "Traceback" not in heir.output()
