"""The Redis fulfillment queue with real `livecart worker` processes (contract: Running,
Orders, Fulfillment), on SQLite and PostgreSQL.

With ``REDIS_URL`` the web process only relays orders onto the stream; workers
accept them, each exactly once — also when a worker dies holding entries, when
an entry is poison (dead letters), and when Redis restarts empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text as sql
from websockets.asyncio.client import connect

from app.accounts import Role
from app.db import make_engine
from app.settings import Settings
from common import keys
from tests.auction_helpers import Tap
from tests.http_helpers import http_client
from tests.live_server import LiveServer, process_env, serve, with_redis
from tests.order_helpers import (
    AsyncShop,
    frames_until_pong,
    next_of,
    statuses,
)
from tests.services import running_redis
from tests.ws_helpers import Rest, Who, auth, make_user, snapshot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STREAM, GROUP = keys.ORDERS_STREAM, keys.ORDERS_GROUP
CLAIM_IDLE_MS = 500
MAX_ATTEMPTS = 3


class Worker:
    """`python -m app.cli worker` in a child process, its output kept for failure messages."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = process_env(
            settings,
            LIVECART_QUEUE_CLAIM_IDLE_MS=str(CLAIM_IDLE_MS),
            LIVECART_QUEUE_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        )
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code, self.proc = self.proc.returncode, None
        return code

    async def running(self, within: float = 20.0) -> None:
        """Wait until the worker says it runs (its log is the only sign it gives)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while "fulfillment worker" not in self.output() or "running" not in self.output():
            assert self.proc is not None and self.proc.poll() is None, self.output()
            assert loop.time() < deadline, self.output()
            await asyncio.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextlib.contextmanager
def running_worker(settings: Settings, log: Path) -> Iterator[Worker]:
    worker = Worker(settings, log).start()
    try:
        yield worker
    finally:
        worker.stop()


@dataclass
class Shopfront:
    """A web app with REDIS_URL, a creator's product, a buyer and staff."""

    web: LiveServer
    http: httpx.AsyncClient
    shop: AsyncShop
    redis: Redis
    staff: Who
    buyer: Who
    product_id: int
    live_id: int

    async def place(self, count: int) -> list[int]:
        return [(await self.shop.place(self.buyer, self.product_id))["id"] for _ in range(count)]

    async def wait_accepted(self, ids: list[int], worker: Worker, within: float = 12.0) -> None:
        try:
            found = await self.shop.wait_status(self.staff, ids, "accepted", within=within)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker output ---\n{worker.output()}") from exc
        for order in found:  # exactly once: one acceptance line, by the queue
            assert [(h["status"], h["by"]) for h in order["history"]] == [
                ("placed", "buyer"),
                ("accepted", "fulfillment"),
            ], order

    async def statuses(self, ids: list[int]) -> list[str]:
        return [(await self.shop.fetch(self.staff, i))["status"] for i in ids]


@contextlib.asynccontextmanager
async def shopfront(settings: Settings, redis_url: str) -> AsyncIterator[Shopfront]:
    async with (
        serve(with_redis(settings, redis_url)) as web,
        http_client(web.url, timeout=20) as http,
    ):
        redis = Redis.from_url(redis_url)
        try:
            rest = Rest(http)
            owner = await rest.register("owner", "creator")
            product = await rest.product(owner, price_cents=1000, stock=100)
            staff = await make_user(web.state, "staff", Role.STAFF)
            buyer = await make_user(web.state, "buyer", Role.VIEWER)
            live = await rest.live(owner, start=True)
            yield Shopfront(
                web, http, AsyncShop(http), redis, staff, buyer, product["id"], live["id"]
            )
        finally:
            await redis.aclose()


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def stream_order_ids(redis: Redis, count: int = 0, within: float = 10.0) -> list[int]:
    """The order ids on the stream, in its order; first waits (XREAD BLOCK, bounded) until
    there are ``count``."""
    entries = list(await redis.xrange(STREAM))
    while len(entries) < count:
        last = entries[-1][0] if entries else "0-0"
        got = await redis.xread({STREAM: last}, block=int(within * 1000))
        assert got, f"{len(entries)} of {count} orders on the stream"
        entries += got[0][1]
    return [int(text(fields[b"order_id"])) for _id, fields in entries]


async def pending_count(redis: Redis) -> int:
    summary: dict[str, Any] = await redis.xpending(STREAM, GROUP)
    return int(summary["pending"])


async def pending_drained(redis: Redis, within: float = 5.0) -> bool:
    """Whether every entry read from the stream is acknowledged within ``within`` s."""
    for _ in range(int(within / 0.05)):
        if not await pending_count(redis):
            return True
        await asyncio.sleep(0.05)
    return False


@contextlib.asynccontextmanager
async def writes_blocked(settings: Settings) -> AsyncIterator[None]:
    """Hold the database's write lock (SQLite) or the orders table lock (PostgreSQL),
    so a worker that read queue entries hangs before it can accept them."""
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[1]
        conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            # In a thread: the server in this event loop may be finishing a write.
            await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sql("LOCK TABLE orders IN EXCLUSIVE MODE"))  # reads still pass
            yield
            await conn.rollback()
    finally:
        await engine.dispose()


async def pending_by_consumer(redis: Redis) -> dict[str, int]:
    summary: dict[str, Any] = await redis.xpending(STREAM, GROUP)
    return {text(c["name"]): int(c["pending"]) for c in summary.get("consumers") or []}


async def test_a_worker_killed_holding_entries_is_taken_over(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    shared = with_redis(settings, redis_url)
    async with shopfront(settings, redis_url) as front:
        redis = front.redis
        held = await front.place(3)
        # No worker yet: the orders are on the stream and nobody read them — the web
        # process relays, it never consumes. Each order is handed over after its answer,
        # in a task of its own: one may overtake the one before (seen in CI: [2, 1, 3]).
        assert sorted(await stream_order_ids(redis, count=len(held))) == held
        (group,) = await redis.xinfo_groups(STREAM)
        assert (text(group["name"]), group["consumers"], group["pending"]) == (GROUP, 0, 0)
        assert text(group["last-delivered-id"]) == "0-0"
        assert await front.statuses(held) == ["placed"] * 3

        # A worker reads the entries, hangs on the database, and is SIGKILLed. (The
        # worker migrates on start, which needs the database: it is started first and
        # the entries are handed to it once it runs and the database is locked.)
        await redis.xtrim(STREAM, maxlen=0)
        doomed = Worker(shared, tmp_path / "doomed.log").start()
        try:
            await doomed.running()
            async with writes_blocked(settings):
                relay = redis.pipeline(transaction=True)  # one batch: read in one go
                for order_id in held:
                    relay.xadd(STREAM, {"order_id": str(order_id)})
                await relay.execute()
                pending: dict[str, int] = {}
                for _ in range(200):  # up to 10 s
                    pending = await pending_by_consumer(redis)
                    if sum(pending.values()) == 3:
                        break
                    await asyncio.sleep(0.05)
                assert list(pending.values()) == [3], (pending, doomed.output())
                assert next(iter(pending)).startswith("worker:")
                assert doomed.stop(signal.SIGKILL) == -signal.SIGKILL
        finally:
            doomed.stop(signal.SIGKILL)
        assert await front.statuses(held) == ["placed"] * 3

        with running_worker(shared, tmp_path / "heir.log") as heir:
            await front.wait_accepted(held, heir)  # after CLAIM_IDLE_MS, exactly once
            # The worker acknowledges an entry after its transaction commits.
            assert await pending_drained(redis), await pending_by_consumer(redis)
            later = await front.place(2)  # and new orders go straight through
            await front.wait_accepted(later, heir)
        for order_id in [*held, *later]:
            order = await front.shop.fetch(front.staff, order_id)
            assert statuses(order).count("accepted") == 1, order


async def test_poison_entries_land_in_the_dead_letters(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    async with shopfront(settings, redis_url) as front:
        redis = front.redis
        poison = [{"order_id": "abc"}, {"order_id": "999999"}, {"note": "no order id"}]
        for fields in poison:
            await redis.xadd(STREAM, fields)  # type: ignore[arg-type]
        # An order cancelled while its entry waits on the stream is never accepted.
        (dropped,) = await front.place(1)
        resp = await front.http.post(f"/api/orders/{dropped}/cancel", headers=auth(front.buyer))
        assert resp.status_code == 200, resp.text
        path = "/api/fulfillment/dead-letters"
        with running_worker(with_redis(settings, redis_url), tmp_path / "w.log") as worker:
            letters: list[dict[str, Any]] = []
            for _ in range(48):  # 12 s; dead-lettering needs about MAX_ATTEMPTS x CLAIM_IDLE_MS
                resp = await front.http.get(path, headers=auth(front.staff))
                assert resp.status_code == 200, resp.text
                letters = resp.json()["dead_letters"]
                if len(letters) >= len(poison):
                    break
                await _pause()
            assert len(letters) == len(poison), (letters, worker.output())
            by_fields = {
                tuple(sorted(letter["entry"]["fields"].items())): letter for letter in letters
            }
            assert set(by_fields) == {tuple(sorted(f.items())) for f in poison}
            assert by_fields[(("order_id", "999999"),)]["order_id"] == 999_999
            assert by_fields[(("order_id", "abc"),)]["order_id"] is None
            for letter in letters:
                assert letter["attempts"] >= MAX_ATTEMPTS, letter
                assert letter["error"]
            assert await pending_drained(redis), await pending_by_consumer(redis)
            order = await front.shop.fetch(front.staff, dropped)
            assert statuses(order) == ["placed", "cancelled"], order
            # The worker is not stuck behind them, and the buyer hears of its work.
            url = front.web.ws_url(front.live_id, token=front.buyer["token"])
            async with connect(url) as ws:
                await snapshot(ws)
                assert await frames_until_pong(ws) == []
                ids = await front.place(2)
                await front.wait_accepted(ids, worker)
                heard: set[int] = set()
                while heard != set(ids):
                    frame = await next_of(ws, "order")
                    assert frame["seq"] is None
                    order = frame["data"]["order"]
                    if order["status"] == "accepted":
                        assert statuses(order) == ["placed", "accepted"], order
                        heard.add(order["id"])
        for who, status in ((front.buyer, 403), (None, 401)):
            resp = await front.http.get(path, headers=auth(who))
            assert resp.status_code == status, resp.text
        admin = await make_user(front.web.state, "admin", Role.ADMIN)
        resp = await front.http.get(path, headers=auth(admin))
        assert resp.status_code == 200
        assert len(resp.json()["dead_letters"]) == len(poison)


async def _pause() -> None:
    """Between two reads of real state (dead letters have no event to wait on)."""
    await asyncio.sleep(0.25)


async def test_redis_restarted_empty_before_the_worker_starts_loses_no_order(
    settings: Settings, tmp_path: Path
) -> None:
    with running_redis() as redis_server:
        async with shopfront(settings, redis_server.url) as front:
            ids = await front.place(3)
            assert sorted(await stream_order_ids(front.redis, count=len(ids))) == ids
            await front.redis.set("test:marker", "1")
            redis_server.stop()  # no persistence: the stream and its group are gone
            redis_server.start()
            fresh = Redis.from_url(redis_server.url)
            try:  # empty (the shop's relay may already have made a new stream: not checked)
                assert await fresh.exists("test:marker") == 0
            finally:
                await fresh.aclose()
            with running_worker(
                with_redis(settings, redis_server.url), tmp_path / "w.log"
            ) as worker:
                await front.wait_accepted(ids, worker, within=8)
                later = await front.place(1)
                await front.wait_accepted(later, worker)


async def test_orders_placed_while_redis_is_down_are_accepted_once_it_is_back(
    settings: Settings, tmp_path: Path
) -> None:
    with running_redis() as redis_server:
        async with shopfront(settings, redis_server.url) as front:
            with running_worker(
                with_redis(settings, redis_server.url), tmp_path / "w.log"
            ) as worker:
                before = await front.place(1)
                await front.wait_accepted(before, worker)
                redis_server.stop()
                during = await front.place(2)  # the database is the truth: still 201
                assert await front.statuses(during) == ["placed", "placed"]
                redis_server.start()
                await front.wait_accepted(during, worker)
                after = await front.place(1)
                await front.wait_accepted(after, worker)
            for order_id in [*before, *during, *after]:
                order = await front.shop.fetch(front.staff, order_id)
                assert statuses(order).count("accepted") == 1, order


async def test_the_staff_board_hears_what_the_worker_accepts(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    """An order accepted by a `livecart worker` process reaches the staff board's socket
    on the web process (through Redis), with no polling."""
    async with shopfront(settings, redis_url) as front:
        url = front.web.url.replace("http://", "ws://") + "/ws/fulfillment"
        async with connect(f"{url}?token={front.staff['token']}") as ws:
            tap = Tap(ws)
            await tap.settled()
            with running_worker(with_redis(settings, redis_url), tmp_path / "w.log") as worker:
                ids = await front.place(2)
                await front.wait_accepted(ids, worker)
                for order_id in ids:
                    await tap.wait_for(
                        lambda f, i=order_id: (
                            f["type"] == "order"
                            and f["data"]["order"]["id"] == i
                            and f["data"]["order"]["status"] == "accepted"
                        )
                    )
            await tap.stop()
