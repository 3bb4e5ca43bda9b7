"""``GET /metrics`` (contract: Operations): the Prometheus text format, orders by
outcome, the fulfillment backlog, the metrics token, and several workers summed.

Counters are process-wide, and the in-process tests share one process: they
compare values before and after, never absolute numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from app.metrics import forget_dead_processes
from app.settings import Settings
from checkout.metrics import Backlog, stream_backlog
from tests.http_helpers import http_client
from tests.live_server import LiveServer, process_env, serve, spawned, with_redis
from tests.order_helpers import AsyncShop
from tests.services import free_port, redis_db
from tests.ws_helpers import Rest, Who

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

METRIC_NAMES = {
    "livecart_ws_sockets",
    "livecart_ws_joins",
    "livecart_ws_join_seconds",
    "livecart_ws_refusals",
    "livecart_ws_frames_sent",
    "livecart_ws_evictions",
    "livecart_ws_snapshot_builds",
    "livecart_orders",
    "livecart_fulfillment_queue_depth",
    "livecart_fulfillment_queue_lag_seconds",
}
STREAM_NAMES = {"livecart_fulfillment_stream_entries", "livecart_fulfillment_stream_lag_seconds"}


def parse(text: str) -> tuple[set[str], Samples]:
    """Family names and every sample, parsed by prometheus_client (so the text is valid)."""
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return names, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = await http.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == CONTENT_TYPE_LATEST
    return parse(resp.text)[1]


def orders(samples: Samples, outcome: str) -> float:
    return value(samples, "livecart_orders_total", outcome=outcome)


@contextlib.asynccontextmanager
async def http_for(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server.url, timeout=10) as http:
        yield http


async def shop_of(http: httpx.AsyncClient, stock: int = 3) -> tuple[Who, dict[str, object]]:
    rest = Rest(http)
    owner = await rest.register("owner", "creator")
    buyer = await rest.register("buyer")
    return buyer, await rest.product(owner, stock=stock)


async def test_metrics_lists_every_metric_in_the_text_format(server: LiveServer) -> None:
    async with http_for(server) as http:
        resp = await http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == CONTENT_TYPE_LATEST
    names, samples = parse(resp.text)
    assert names >= METRIC_NAMES
    assert not names & STREAM_NAMES  # no Redis, no stream
    for kind in ("snapshot", "resume"):
        assert ("livecart_ws_joins_total", frozenset({("kind", kind)})) in samples
    assert ("livecart_ws_join_seconds_bucket", frozenset({("le", "30.0")})) in samples
    assert ("livecart_orders_total", frozenset({("outcome", "placed")})) in samples
    assert not any(name.endswith("_created") for name, _labels in samples)


async def test_orders_are_counted_by_outcome(server: LiveServer) -> None:
    async with http_for(server) as http:
        shop = AsyncShop(http)
        buyer, product = await shop_of(http, stock=3)
        before = await scrape(http)

        await shop.place(buyer, product["id"], 2, key="metrics-key")
        replay = await shop.order(buyer, product["id"], 2, key="metrics-key")
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
        short = await shop.order(buyer, product["id"], 2)  # 1 left
        assert short.status_code == 409 and short.json()["error"]["code"] == "insufficient_stock"
        mismatch = await shop.order(buyer, product["id"], 1, key="metrics-key")
        assert mismatch.status_code == 422

        after = await scrape(http)
    moved = {o: orders(after, o) - orders(before, o) for o in ("placed", "replayed",
             "insufficient_stock", "idempotency_mismatch", "error")}  # fmt: skip
    assert moved == {"placed": 1, "replayed": 1, "insufficient_stock": 1,
                     "idempotency_mismatch": 1, "error": 0}  # fmt: skip


async def test_without_redis_the_backlog_empties_as_orders_are_accepted(
    server: LiveServer,
) -> None:
    async with http_for(server) as http:
        shop = AsyncShop(http)
        buyer, product = await shop_of(http)
        await shop.place(buyer, product["id"])
        deadline = time.monotonic() + 10
        while True:  # the in-process consumer accepts it within a second
            samples = await scrape(http)
            if value(samples, "livecart_fulfillment_queue_depth") == 0:
                break
            assert time.monotonic() < deadline, samples
            await asyncio.sleep(0.1)
    assert value(samples, "livecart_fulfillment_queue_lag_seconds") == 0


async def test_with_redis_and_no_worker_orders_wait_in_the_backlog(
    settings: Settings, redis_url: str
) -> None:
    async with serve(with_redis(settings, redis_url)) as server, http_for(server) as http:
        shop = AsyncShop(http)
        buyer, product = await shop_of(http)
        await shop.place(buyer, product["id"])
        await asyncio.sleep(0.3)
        await shop.place(buyer, product["id"])
        deadline = time.monotonic() + 10
        while True:  # handed to the stream right after the answer, by a background task
            samples = await scrape(http)
            undelivered = value(samples, "livecart_fulfillment_stream_entries", state="undelivered")
            if undelivered >= 2:
                break
            assert time.monotonic() < deadline, samples
            await asyncio.sleep(0.1)
    assert value(samples, "livecart_fulfillment_queue_depth") == 2  # no worker: both wait
    assert 0.3 <= value(samples, "livecart_fulfillment_queue_lag_seconds") < 30
    assert 0.3 <= value(samples, "livecart_fulfillment_stream_lag_seconds",
                        state="undelivered") < 30  # fmt: skip
    assert value(samples, "livecart_fulfillment_stream_entries", state="pending") == 0
    assert value(samples, "livecart_fulfillment_stream_lag_seconds", state="pending") == 0


async def test_stream_backlog_by_state(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        nothing = {"undelivered": Backlog(0, 0.0), "pending": Backlog(0, 0.0)}
        assert await stream_backlog(redis, "metrics-test", "g") == nothing  # no stream yet
        for millis in (1000, 2000, 3000):
            await redis.xadd("metrics-test", {"order_id": "1"}, id=f"{millis}-0")
        await redis.xgroup_create("metrics-test", "g", id="0")
        await redis.xreadgroup("g", "c", {"metrics-test": ">"}, count=1)
        got = await stream_backlog(redis, "metrics-test", "g", now_s=10.0)
        assert (got["undelivered"].depth, got["undelivered"].oldest_s) == (2, 8.0)
        assert (got["pending"].depth, got["pending"].oldest_s) == (1, 9.0)
        await redis.xreadgroup("g", "c", {"metrics-test": ">"}, count=5)
        await redis.xack("metrics-test", "g", "1000-0", "2000-0")
        got = await stream_backlog(redis, "metrics-test", "g", now_s=10.0)
        assert (got["undelivered"].depth, got["undelivered"].oldest_s) == (0, 0.0)
        assert (got["pending"].depth, got["pending"].oldest_s) == (1, 7.0)
    finally:
        await redis.aclose()


async def test_the_metrics_token_is_required_when_set(settings: Settings) -> None:
    async with (
        serve(replace(settings, metrics_token="scrape-me")) as server,
        http_for(server) as http,
    ):
        missing = await http.get("/metrics")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "authentication_required"
        assert missing.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer wrong", "Basic scrape-me", "Bearer scrape-me-not", "Bearer"):
            wrong = await http.get("/metrics", headers={"Authorization": header})
            assert wrong.status_code == 401, header
            assert set(wrong.json()) == {"error"}
            assert wrong.json()["error"]["code"] == "invalid_token"
        assert "livecart_orders_total" in str(await scrape(http, token="scrape-me"))
        assert (await http.get("/healthz")).status_code == 200  # the rest stays open


def test_the_metrics_token_setting() -> None:
    env = {"SECRET_KEY": "k"}
    assert Settings.from_env(env).metrics_token is None
    assert Settings.from_env({**env, "LIVECART_METRICS_TOKEN": "  "}).metrics_token is None
    configured = Settings.from_env({**env, "LIVECART_METRICS_TOKEN": "t0ken-value"})
    assert configured.metrics_token == "t0ken-value"
    assert "t0ken-value" not in repr(configured)


def test_openapi_describes_metrics(settings: Settings) -> None:
    from app.factory import create_app

    doc = create_app(settings).state.openapi
    assert set(doc["paths"]["/metrics"]["get"]["responses"]) == {"200", "401"}


# ---- `livecart serve --workers 2`: one scrape sums every worker


@pytest.mark.slow
def test_a_dead_workers_live_gauges_are_forgotten(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    files = [f"gauge_livesum_{gone.pid}.db", f"counter_{gone.pid}.db",
             f"gauge_livesum_{os.getpid()}.db"]  # fmt: skip
    for name in files:
        (tmp_path / name).write_bytes(b"")
    forget_dead_processes(str(tmp_path))
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(files[1:])  # counters stay


@contextlib.contextmanager
def workers(env: dict[str, str], cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``livecart serve --workers 2`` on ``port``; stopped with SIGTERM at the end."""
    log = cwd / "serve.log"
    args = ["app.cli", "serve", "--port", str(port), "--workers", "2"]
    with spawned(args, cwd, env, port, stderr=log, stop_signal=signal.SIGTERM) as proc:
        yield proc
    assert proc.returncode == 0, log.read_text()[-3000:]


def metrics_files(tmp_path: Path) -> tuple[Path, set[str]]:
    """The CLI's metrics directory (under ``TMPDIR``) and the pids that wrote counters."""
    [metrics_dir] = tmp_path.glob("livecart-metrics-*")
    return metrics_dir, {f.stem.rpartition("_")[2] for f in metrics_dir.glob("counter_*.db")}


@pytest.mark.slow
async def test_workers_share_their_metrics(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    if request.node.callspec.params.get("database_url") == "postgres":
        pytest.skip("multi-process tests run on SQLite only (see test_multiprocess)")
    shared = with_redis(settings, redis_db(redis_url, 8))
    env = process_env(shared, TMPDIR=str(tmp_path))  # the CLI's metrics directory lands here
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with workers(env, tmp_path, port):
        async with http_client(base, timeout=30) as http:
            buyer, product = await shop_of(http, stock=50)
        # A connection each: the kernel shares them out between the workers, though
        # not evenly on a busy machine; place orders until both have counted one.
        placed = 0
        while placed < 40:
            async with http_client(base, timeout=30) as http:
                await AsyncShop(http).place(buyer, product["id"])
            placed += 1
            metrics_dir, pids = metrics_files(tmp_path)
            if placed >= 6 and len(pids) == 2:
                break
        async with http_client(base, timeout=30) as http:
            short = await AsyncShop(http).order(buyer, product["id"], 100)
            assert short.status_code == 409, short.text
        metrics_dir, pids = metrics_files(tmp_path)
        assert len(pids) == 2, pids  # both workers write there
        for _ in range(6):  # whichever worker answers, it answers for both
            async with http_client(base, timeout=30) as http:
                resp = await http.get("/metrics")
            assert resp.status_code == 200, resp.text
            names, samples = parse(resp.text)
            assert names >= METRIC_NAMES | STREAM_NAMES
            assert orders(samples, "placed") == placed
            assert orders(samples, "insufficient_stock") == 1
            assert value(samples, "livecart_ws_sockets") == 0  # livesum: one summed sample
            assert value(samples, "livecart_fulfillment_queue_depth") == placed  # no worker
    assert not metrics_dir.exists(), "the CLI removes its metrics directory on exit"
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None  # the tests' own stay single
