"""Processes stop when told (app/stopping.py), with real processes and real signals.

Seen before this: a busy ``livecart worker`` given SIGTERM still ran 14 minutes later
once its Redis had gone, deaf to a second SIGTERM and to SIGINT. Here ``livecart
worker`` and ``livecart serve`` get SIGTERM while busy, with Redis gone and with a
batch mid-transaction, and must exit within seconds having lost nothing: entries a
stopped worker read but did not acknowledge are reclaimed by the next one, and every
order ends accepted. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import bindparam
from sqlalchemy import text as sql

from app.db import make_engine
from app.settings import Settings
from app.stopping import SAME_SIGNAL_S
from common import keys
from tests.http_helpers import http_client
from tests.live_server import ServerProcess, process_env, with_redis
from tests.multiprocess.test_worker import (
    ROOT,
    Shopfront,
    Worker,
    pending_by_consumer,
    pending_count,
    pending_drained,
    running_worker,
    shopfront,
    writes_blocked,
)
from tests.order_helpers import AsyncShop, fresh_key, order_body
from tests.services import RedisServer, wait_for_port
from tests.ws_helpers import Rest, auth

# A clean stop takes about a second; the deadline is the guarantee, with room for a
# loaded machine. Stuck or not, a process is gone by DEADLINE_S.
STOPPED_WITHIN_S = 6.0
STREAM = keys.ORDERS_STREAM

pytestmark = pytest.mark.slow


async def output_says(read: object, text: str, within: float = 20.0) -> None:
    """Wait until a process's log (``read()``) contains ``text``: its only sign."""
    assert callable(read)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while text not in read():
        assert loop.time() < deadline, f"no {text!r} in:\n{read()}"
        await asyncio.sleep(0.05)


async def exits_within(proc: subprocess.Popen[bytes], within: float) -> tuple[int, float]:
    """(exit status, seconds taken); fails (and kills it) if it runs on past ``within``."""
    started = time.monotonic()
    try:
        code = await asyncio.to_thread(proc.wait, within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"still running {within}s after the signal") from None
    return code, time.monotonic() - started


@contextlib.asynccontextmanager
async def orders_flowing(front: Shopfront) -> AsyncIterator[list[int]]:
    """Orders placed back to back in the background; yields the ids placed so far."""
    placed: list[int] = []
    stopping = asyncio.Event()

    async def place() -> None:
        while not stopping.is_set():
            try:
                placed.extend(await front.place(1))
            except (httpx.TransportError, AssertionError):
                return  # the server stopped: each order it answered 201 is kept

    task = asyncio.create_task(place())
    try:
        yield placed
    finally:
        stopping.set()
        await task


async def all_accepted_once(front: Shopfront, ids: list[int], worker: Worker) -> None:
    await front.wait_accepted(ids, worker, within=30)  # exactly once: checks the history
    # Acknowledged right after the commit, once the order frames are out: wait for it.
    assert await pending_drained(front.redis), await pending_count(front.redis)


async def stop_worker(worker: Worker) -> None:
    """SIGTERM to the worker; it must exit cleanly within STOPPED_WITHIN_S."""
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    code, _took = await exits_within(worker.proc, STOPPED_WITHIN_S)
    assert code == 0, worker.output()
    assert "stopping within" in worker.output()


@contextlib.asynccontextmanager
async def shop_and_worker(
    shared: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Shopfront, Worker]]:
    """A web app relaying to ``shared.redis_url`` and a `livecart worker` process (started;
    killed on the way out if a test left it running)."""
    assert shared.redis_url is not None
    async with shopfront(shared, shared.redis_url) as front:
        worker = Worker(shared, tmp_path / "w1.log").start()
        try:
            yield front, worker
        finally:
            worker.stop(signal.SIGKILL)


async def accepted_by_the_next_worker(
    front: Shopfront, ids: list[int], settings: Settings, tmp_path: Path
) -> None:
    """A new worker (on ``settings``) accepts every order in ``ids``, each once."""
    with running_worker(settings, tmp_path / "heir.log") as heir:
        await all_accepted_once(front, ids, heir)


async def test_a_busy_worker_stops_on_sigterm_and_the_next_one_loses_nothing(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    shared = with_redis(settings, redis_url)
    async with shop_and_worker(shared, tmp_path) as (front, worker):
        await worker.running()
        async with orders_flowing(front) as placed:
            while len(placed) < 10:  # the worker is accepting as they come
                await front.wait_accepted(await front.place(1), worker)
            await stop_worker(worker)
        await accepted_by_the_next_worker(front, placed, shared, tmp_path)


async def test_a_worker_stops_on_sigterm_after_its_redis_has_gone(
    settings: Settings, own_redis: RedisServer, tmp_path: Path
) -> None:
    shared = with_redis(settings, own_redis.url)
    async with shop_and_worker(shared, tmp_path) as (front, worker):
        await worker.running()
        async with orders_flowing(front) as placed:
            await front.wait_accepted(await front.place(3), worker)
            own_redis.stop()
            await output_says(worker.output, "ConnectionError")  # its loops noticed
            await stop_worker(worker)
            own_redis.start()  # same port, empty: the relay re-sends the outbox
        await accepted_by_the_next_worker(front, placed, shared, tmp_path)


async def test_a_worker_stopped_mid_batch_exits_and_its_entries_are_reclaimed(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    shared = with_redis(settings, redis_url)
    async with shop_and_worker(shared, tmp_path) as (front, worker):
        held = await front.place(3)
        await front.redis.xtrim(STREAM, maxlen=0)  # handed over below, once locked
        await worker.running()
        async with writes_blocked(settings):  # its acceptance waits on the lock
            relay = front.redis.pipeline(transaction=True)
            for order_id in held:
                relay.xadd(STREAM, {"order_id": str(order_id)})
            await relay.execute()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while sum((await pending_by_consumer(front.redis)).values()) < 3:
                assert loop.time() < deadline, worker.output()
                await asyncio.sleep(0.05)
            await stop_worker(worker)  # holding 3 entries, mid-transaction
        assert list((await pending_by_consumer(front.redis)).values()) == [3]
        assert await front.statuses(held) == ["placed"] * 3
        await accepted_by_the_next_worker(front, held, shared, tmp_path)  # reclaimed when idle


class LoggedServer(ServerProcess):
    """`livecart serve` whose output goes to a file (the test reads its stop lines)."""

    def __init__(self, env: dict[str, str], log: Path, *extra: str) -> None:
        super().__init__(env, ROOT)
        self.log = log
        self.extra = extra

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*command, *self.extra], cwd=self.cwd, env=self.env,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_port(self.port, timeout=60)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@contextlib.asynccontextmanager
async def served_shop(server: LoggedServer) -> AsyncIterator[Shopfront]:
    """A shop (creator, product, buyer) on a started `livecart serve` process."""
    server.start()
    async with http_client(server.url, timeout=20) as http:
        rest = Rest(http)
        owner = await rest.register("owner", "creator")
        buyer = await rest.register("buyer", "viewer")
        product = await rest.product(owner, price_cents=1000, stock=1000)
        live = await rest.live(owner, start=True)
        shop = AsyncShop(http)
        yield Shopfront(None, http, shop, None, owner, buyer, product["id"], live["id"])  # type: ignore[arg-type]


async def db_statuses(settings: Settings, ids: list[int]) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sql("SELECT id, status FROM orders WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )
            found: dict[int, str] = {int(i): str(st) for i, st in rows.all()}
    finally:
        await engine.dispose()
    return [found.get(i, "missing") for i in ids]


async def accepted_by_a_worker(settings: Settings, ids: list[int], tmp_path: Path) -> None:
    """Every order in ``ids`` ends accepted once a worker runs (nothing lost)."""
    with running_worker(settings, tmp_path / "after.log") as worker:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while set(found := await db_statuses(settings, ids)) != {"accepted"}:
            assert loop.time() < deadline, (found, worker.output())
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("redis_gone", [False, True], ids=["redis-up", "redis-gone"])
async def test_a_busy_server_stops_on_sigterm_and_loses_no_order(
    settings: Settings, own_redis: RedisServer, tmp_path: Path, redis_gone: bool
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the server's stop does not depend on the database: SQLite only")
    shared = with_redis(settings, own_redis.url)
    server = LoggedServer(process_env(shared), tmp_path / "serve.log")
    try:
        async with served_shop(server) as front, orders_flowing(front) as placed:
            placed.extend(await front.place(3))
            if redis_gone:
                own_redis.stop()
                placed.extend(await front.place(2))  # the database is the truth
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            code, _took = await exits_within(server.proc, STOPPED_WITHIN_S)
        assert code in (0, -signal.SIGTERM), server.output()
        assert "stopping within" in server.output()
    finally:
        server.stop()
    if redis_gone:
        own_redis.start()
    await accepted_by_a_worker(shared, placed, tmp_path)


async def order_in_flight(server: LoggedServer, front: Shopfront) -> asyncio.StreamWriter:
    """POST an order on a connection of its own; return once the server has read it."""
    body = json.dumps(order_body(front.product_id)).encode()
    head = {
        "Host": "127.0.0.1", "Content-Type": "application/json",
        "Content-Length": str(len(body)), "Idempotency-Key": fresh_key(), **auth(front.buyer),
    }  # fmt: skip
    request = "POST /api/orders HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request.encode() + b"\r\n" + body)
    await writer.drain()
    # Answered after it on another connection: the server's loop took the order first.
    assert (await front.http.get("/healthz")).status_code == 200
    return writer


async def test_a_second_signal_stops_a_server_at_once(settings: Settings, tmp_path: Path) -> None:
    if not settings.is_sqlite:
        pytest.skip("needs a request stuck on SQLite's write lock")
    server = LoggedServer(process_env(settings), tmp_path / "serve.log")
    try:
        async with served_shop(server) as front, writes_blocked(settings):
            writer = await order_in_flight(server, front)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            await output_says(server.output, "stopping within")
            # uvicorn now waits up to GRACE_S for the stuck order; a repeat within
            # SAME_SIGNAL_S counts as the same request.
            await asyncio.sleep(SAME_SIGNAL_S + 0.1)
            assert server.proc.poll() is None, server.output()
            server.proc.send_signal(signal.SIGTERM)
            code, _took = await exits_within(server.proc, 1.5)
            writer.close()
        assert code == 128 + signal.SIGTERM, server.output()
        assert "second signal (SIGTERM); exiting at once" in server.output()
    finally:
        server.stop()


async def test_sigterm_stops_every_process_of_a_multi_worker_server(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the server's stop does not depend on the database: SQLite only")
    shared = with_redis(settings, redis_url)
    server = LoggedServer(process_env(shared), tmp_path / "serve.log", "--workers", "2")
    try:
        async with served_shop(server) as front, orders_flowing(front) as placed:
            placed.extend(await front.place(3))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            code, _took = await exits_within(server.proc, STOPPED_WITHIN_S + 2)
        assert code == 0, server.output()
        assert server.output().count("Finished server process") == 2, server.output()
    finally:
        server.stop()
    await accepted_by_a_worker(shared, placed, tmp_path)
