"""Fulfillment-queue benchmark: how many placed orders per second become ``accepted``.

    python -m bench.fulfillment [--orders 20000] [--variants pg-redis-1 pg-redis-2 sqlite-local]
                                [--out bench/results/queue.json]

For every variant, on fresh state:

1. a scratch database (PostgreSQL: ``--scratch-db``, default ``livecart_bench_queue``,
   recreated; SQLite: a
   new file), migrated with ``app.migrate.upgrade``, with one buyer and one product;
2. (``pg-redis-W``) Redis (``--redis``, default db 9) flushed, then W ``livecart worker`` processes
   started and waited for (their "fulfillment worker … running" log line): each
   runs the outbox relay (outbox → stream) and a stream consumer (XREADGROUP →
   ``states.accept`` → XACK), exactly as in production;
3. N ``placed`` orders, their ``placed`` history lines and their outbox rows
   inserted in ONE transaction (three ``INSERT … SELECT`` over a recursive CTE);
   the clock starts when it commits;
4. (``pg-redis-W``) the database is polled every 50 ms until all N orders are
   ``accepted``; (``sqlite-local``) the embedded default's consumer,
   ``checkout.queue.LocalConsumer`` over ``app.commerce.Commerce.transaction`` on a
   ``Hub`` with a ``MemoryBroker`` — what ``livecart serve`` runs without Redis —
   is driven in this process: ``run_once()`` back to back while it reports a
   full batch, which is what its background loop does (minus the 1 s idle poll);
5. checks: N ``accepted`` history lines (each order accepted exactly once), no
   outbox row left undone, no dead letters, nothing pending on the stream.

Reported: orders/s = N / (all accepted − commit), the time to the first
accepted order, and the CPU seconds the workers used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench.benchkit import Child, log

ALL_VARIANTS = ["pg-redis-1", "pg-redis-1-alloc", "pg-redis-2", "sqlite-local",
                "sqlite-local-alloc", "pg-local"]  # fmt: skip
DEFAULT_VARIANTS = ["pg-redis-1", "pg-redis-1-alloc", "pg-redis-2", "sqlite-local",
                    "sqlite-local-alloc"]  # fmt: skip
PLACE_BATCH = 100  # orders per placing transaction (the order desk's batches under load)
GERMANY = {"name": "Q", "line1": "1 Hauptstr.", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}  # fmt: skip
VARIANT_TIMEOUT_S = 150
SHIPPING = '{"name":"Q","line1":"1 Main St","city":"Springfield","postal_code":"1","country":"US"}'

_SERIES = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n) "
INSERT_ORDERS = _SERIES + (
    "INSERT INTO orders (id, buyer_id, product_id, live_id, pin_id, quantity, unit_price_cents, "
    "total_cents, currency, status, payment_status, payment_ref, shipping, restocked, "
    "created_at, updated_at) "
    "SELECT x, :buyer, :product, NULL, NULL, 1, 1999, 1999, 'USD', 'placed', 'authorized', "
    "'bench', :shipping, :false, :now, :now FROM g"
)
INSERT_EVENTS = _SERIES + (
    "INSERT INTO order_events (order_id, status, at, by) SELECT x, 'placed', :now, 'qbuyer' FROM g"
)
INSERT_OUTBOX = _SERIES + (
    "INSERT INTO fulfillment_outbox (order_id, created_at, attempts) SELECT x, :now, 0 FROM g"
)


# ---------------------------------------------------------------- database


async def prepare(db_url: str, stocked: int = 0) -> tuple[int, int]:
    """Migrate and create one buyer and one product; return their ids. ``stocked``: the
    product has that many units, half on MAIN (US), half on BER (DE, added)."""
    from app import migrate
    from app.accounts import User
    from app.db import Database
    from checkout.models import MAIN, Inventory, Product, Warehouse

    db = Database.from_url(db_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.write() as session:
            buyer = User(username="qbuyer", password_hash="-", role="viewer")
            creator = User(username="qcreator", password_hash="-", role="creator")
            session.add_all([buyer, creator])
            await session.flush()
            product = Product(creator_id=creator.uid, title="Queue item", price_cents=1999,
                              stock=stocked)  # fmt: skip
            session.add(product)
            await session.flush()
            pid = product.id or 0
            session.add(Warehouse(code="BER", name="Berlin", country="DE"))
            await session.flush()
            session.add_all([
                Inventory(product_id=pid, warehouse=MAIN, on_hand=stocked // 2),
                Inventory(product_id=pid, warehouse="BER", on_hand=stocked - stocked // 2),
            ])  # fmt: skip
            return buyer.uid, pid
    finally:
        await db.dispose()


async def insert_orders(db_url: str, n: int, buyer: int, product: int,
                        then: Sequence[str] = ()) -> float:  # fmt: skip
    """N placed orders + history + outbox in one transaction; returns the commit time.
    ``then``: further statements run in that transaction (they may use ``:n`` and ``:now``)."""
    from sqlalchemy import BindParameter, Boolean, DateTime, bindparam, text

    from app.db import Database
    from common.times import utcnow

    db = Database.from_url(db_url)
    try:
        params = {"n": n, "buyer": buyer, "product": product, "shipping": SHIPPING,
                  "false": False, "now": utcnow()}  # fmt: skip
        typed: list[BindParameter[Any]] = [
            bindparam("now", type_=DateTime(timezone=True)),
            bindparam("false", type_=Boolean()),
        ]
        async with db.write() as session:
            for sql in (INSERT_ORDERS, INSERT_EVENTS, INSERT_OUTBOX, *then):
                stmt = text(sql).bindparams(*[b for b in typed if f":{b.key}" in sql])
                await session.execute(stmt, {k: v for k, v in params.items() if f":{k}" in sql})
            if db.dialect == "postgresql":
                await session.execute(
                    text("SELECT setval(pg_get_serial_sequence('orders', 'id'), :n)"), {"n": n}
                )
        return time.monotonic()
    finally:
        await db.dispose()


async def place_orders(db_url: str, n: int, buyer: int, product: int) -> dict[str, Any]:
    """N orders placed the way the order desk places them (``place_batch``, batches of
    ``PLACE_BATCH``, one unit each, every other one to Germany): stock taken, a warehouse
    allocated (Germany's first, then the one with the most), ship-by dates in that
    warehouse's country, history and outbox rows. In this process, one event loop: one
    server process's placing. Returns the placing time and the batches' CPU seconds."""
    from app.commerce import Commerce
    from app.db import Database
    from app.routes.orders import order_answer
    from checkout.orders import OrderRequest
    from checkout.payments import TestPaymentProvider
    from checkout.placing import place_batch
    from checkout.sla import Calendar
    from live.broker import MemoryBroker
    from live.hub import Hub

    db = Database.from_url(db_url)
    hub = Hub(MemoryBroker(), db)
    await hub.start()
    payments = TestPaymentProvider()
    commerce = Commerce(hub.publisher, Calendar(2, "US"))
    us = json.loads(SHIPPING)
    try:
        t0, cpu0 = time.monotonic(), time.process_time()
        for first in range(0, n, PLACE_BATCH):
            reqs = [OrderRequest(buyer_id=buyer, buyer_name="qbuyer", idempotency_key=f"q{i}",
                                 product_id=product, quantity=1,
                                 shipping=GERMANY if i % 2 else us)
                    for i in range(first, min(n, first + PLACE_BATCH))]  # fmt: skip
            async with commerce.transaction() as unit:
                await place_batch(unit, reqs, payments=payments, render=order_answer)
        return {"place_s": round(time.monotonic() - t0, 3),
                "place_cpu_s": round(time.process_time() - cpu0, 2),
                "placed_per_s": round(n / (time.monotonic() - t0), 1)}  # fmt: skip
    finally:
        await hub.stop()
        await db.dispose()


async def place_and_watch(db_url: str, n: int, buyer: int, product: int) -> tuple[float, Any]:
    """Place (``place_orders``) while the workers accept; returns (t0, watched + placing)."""
    t0 = time.monotonic()
    placing, watched = await asyncio.gather(
        place_orders(db_url, n, buyer, product),
        watch_accepted(db_url, n, t0, VARIANT_TIMEOUT_S - 30),
    )
    return t0, {**watched, "placing": placing}


async def warehouse_counts(db_url: str) -> dict[str, Any]:
    """Where the orders went, and whether each warehouse's figures add up."""
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.engine.connect() as conn:
            by = (await conn.execute(text(
                "SELECT warehouse, count(*) FROM orders GROUP BY warehouse"))).all()  # fmt: skip
            shelves = (await conn.execute(text(
                "SELECT warehouse, on_hand, allocated FROM inventory"))).all()  # fmt: skip
            stock = (await conn.execute(text("SELECT sum(stock) FROM products"))).scalar_one()
        return {
            "orders_by_warehouse": {w: int(c) for w, c in by},
            "allocated": {w: int(a) for w, _h, a in shelves},
            "stock_left": int(stock or 0),
            "stock_is_sum": int(stock or 0) == sum(int(h) - int(a) for _w, h, a in shelves),
        }
    finally:
        await db.dispose()


async def counts(db_url: str) -> dict[str, int]:
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.engine.connect() as conn:

            async def one(sql: str) -> int:
                return int((await conn.execute(text(sql))).scalar_one())

            return {
                "accepted": await one("SELECT count(*) FROM orders WHERE status = 'accepted'"),
                "placed": await one("SELECT count(*) FROM orders WHERE status = 'placed'"),
                "accepted_history_lines": await one(
                    "SELECT count(*) FROM order_events WHERE status = 'accepted'"
                ),
                "orders_accepted_twice": await one(
                    "SELECT count(*) FROM (SELECT order_id FROM order_events WHERE status = "
                    "'accepted' GROUP BY order_id HAVING count(*) > 1) AS t"
                ),
                "outbox_not_done": await one(
                    "SELECT count(*) FROM fulfillment_outbox WHERE done_at IS NULL"
                ),
                "dead_letters": await one("SELECT count(*) FROM fulfillment_dead_letters"),
            }
    finally:
        await db.dispose()


async def watch_accepted(db_url: str, n: int, t0: float, limit_s: float) -> dict[str, Any]:
    """Poll every 50 ms until all ``n`` orders are accepted; times relative to ``t0``."""
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    accepted_sql = text("SELECT count(*) FROM orders WHERE status = 'accepted'")
    first: float | None = None
    timeline: list[tuple[float, int]] = []
    try:
        async with db.engine.connect() as conn:
            while True:
                done = int((await conn.execute(accepted_sql)).scalar_one())
                await conn.rollback()  # a fresh snapshot next time
                now = time.monotonic() - t0
                if done and first is None:
                    first = now
                if not timeline or timeline[-1][1] != done:
                    timeline.append((round(now, 3), done))
                if done >= n:
                    return {"all_accepted_s": now, "first_accepted_s": first,
                            "timeline": timeline[:: max(1, len(timeline) // 40)]}  # fmt: skip
                if now > limit_s:
                    return {"all_accepted_s": None, "first_accepted_s": first,
                            "accepted_at_timeout": done, "timeline": timeline[-40:]}  # fmt: skip
                await asyncio.sleep(0.05)
    finally:
        await db.dispose()


# ---------------------------------------------------------------- variants


def stream_state(redis_url: str) -> dict[str, Any]:
    import redis

    from common import keys

    client = redis.Redis.from_url(redis_url)
    try:
        pending = client.xpending(keys.ORDERS_STREAM, keys.ORDERS_GROUP)
        return {"stream_length": int(client.xlen(keys.ORDERS_STREAM)),
                "stream_pending": int(pending["pending"])}  # fmt: skip
    finally:
        client.close()


def run_workers(variant: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    allocate = variant.endswith("-alloc")
    workdir = Path(tempfile.mkdtemp(prefix=f"queue-{variant}-"))
    db_url = kit.pg_url(args.pg, args.scratch_db, "postgresql+asyncpg")
    asyncio.run(kit.reset_database(args.pg, args.scratch_db))
    kit.flush_redis(args.redis)
    buyer, product = asyncio.run(prepare(db_url, args.orders if allocate else 0))
    env = kit.base_env(DATABASE_URL=kit.pg_url(args.pg, args.scratch_db), REDIS_URL=args.redis)
    result: dict[str, Any] = {"variant": variant, "workers": workers}
    with kit.children() as kids:
        for i in range(workers):
            kids.append(Child(f"worker{i}", [kit.livecart_exe(), "worker"], env=env, cwd=workdir,
                              logfile=workdir / f"worker{i}.log"))  # fmt: skip
        for child in kids:
            kit.wait_log(child, "fulfillment worker")
        spies = (kit.start_profilers(list(kids), kids, workdir, variant, subprocesses=False)
                 if args.profile else [])  # fmt: skip
        time.sleep(0.5)  # every consumer is blocked in XREADGROUP, the relays are polling
        workers_only = list(kids)
        each0 = [kit.group_cpu_seconds(c.pid) for c in workers_only]
        cpu0 = sum(each0)
        ticks0, svc0 = kit.machine_ticks(), kit.cpu_by_command()
        if allocate:  # placed while the workers accept: the clock starts at the first
            _t0, watched = asyncio.run(place_and_watch(db_url, args.orders, buyer, product))
            result.update(watched.pop("placing"))
        else:
            t_insert = time.monotonic()
            t0 = asyncio.run(insert_orders(db_url, args.orders, buyer, product))
            result["insert_s"] = round(t0 - t_insert, 2)
            watched = asyncio.run(watch_accepted(db_url, args.orders, t0, VARIANT_TIMEOUT_S - 30))
        each1 = [kit.group_cpu_seconds(c.pid) for c in workers_only]
        result["worker_cpu_s"] = round(sum(each1) - cpu0, 2)
        result["per_worker_cpu_s"] = [round(b - a, 2) for a, b in zip(each0, each1, strict=True)]
        ticks1, svc1 = kit.machine_ticks(), kit.cpu_by_command()
        result["machine_busy_pct"] = kit.busy_percent(ticks0, ticks1)
        result["postgres_cpu_s"] = round(svc1["postgres"] - svc0["postgres"], 2)
        result["redis_cpu_s"] = round(svc1["redis-server"] - svc0["redis-server"], 2)
        ours = result["worker_cpu_s"] + result["postgres_cpu_s"] + result["redis_cpu_s"]
        busy_s = kit.busy_seconds(ticks0, ticks1)
        result["other_processes_cpu_s"] = round(max(0.0, busy_s - ours), 2)
        time.sleep(0.3)  # the last XACKs
        if spies:
            result["profiles"] = kit.stop_profilers(spies)
        result.update(stream_state(args.redis))
        errors = sum(c.log_text().count("Traceback") for c in kids)
        warnings = [line for c in kids for line in c.log_text().splitlines()
                    if "WARNING" in line and "SECRET_KEY" not in line]  # fmt: skip
    result.update(finish(watched, args.orders))
    result["checks"] = asyncio.run(counts(db_url))
    if allocate:
        result["warehouses"] = asyncio.run(warehouse_counts(db_url))
    result["worker_tracebacks"] = errors
    result["worker_warnings"] = warnings[:10]
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


async def drive_local(db_url: str, n: int, allocate: bool = False) -> dict[str, Any]:
    """The embedded default's consumer, in this process (see the module docstring)."""
    from app.commerce import Commerce
    from app.db import Database
    from checkout.queue import LocalConsumer
    from live.broker import MemoryBroker
    from live.hub import Hub

    buyer, product = await prepare(db_url, n if allocate else 0)
    t_insert = time.monotonic()
    placing: dict[str, Any] = {}
    if allocate:  # placed first, then accepted: the clock covers both
        placing = await place_orders(db_url, n, buyer, product)
        t0 = t_insert
    else:
        t0 = await insert_orders(db_url, n, buyer, product)
    insert_s = time.monotonic() - t_insert
    db = Database.from_url(db_url)
    hub = Hub(MemoryBroker(), db)
    await hub.start()
    try:
        consumer = LocalConsumer(Commerce(hub.publisher).transaction)
        t_start = time.monotonic()
        cpu0 = time.process_time()
        first: float | None = None
        batches = 0
        while True:
            busy = await consumer.run_once()
            batches += 1
            if first is None:
                first = time.monotonic() - t0
            if not busy:
                break
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        return {**placing, "insert_s": round(insert_s, 2), "batches": batches,
                "worker_cpu_s": round(cpu, 2),
                "consume_only_s": round(time.monotonic() - t_start, 3),
                "watched": {"all_accepted_s": elapsed, "first_accepted_s": first}}  # fmt: skip
    finally:
        await hub.stop()
        await db.dispose()


def run_local(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"variant": variant, "workers": "in-process"}
    workdir = Path(tempfile.mkdtemp(prefix=f"queue-{variant}-"))
    if variant.startswith("sqlite-local"):
        db_url = f"sqlite+aiosqlite:///{workdir / 'livecart.db'}"
    else:
        asyncio.run(kit.reset_database(args.pg, args.scratch_db))
        db_url = kit.pg_url(args.pg, args.scratch_db, "postgresql+asyncpg")
    ticks0, svc0 = kit.machine_ticks(), kit.cpu_by_command()
    allocate = variant.endswith("-alloc")
    driven = asyncio.run(drive_local(db_url, args.orders, allocate))
    ticks1, svc1 = kit.machine_ticks(), kit.cpu_by_command()
    result["machine_busy_pct"] = kit.busy_percent(ticks0, ticks1)
    result["postgres_cpu_s"] = round(svc1["postgres"] - svc0["postgres"], 2)
    busy_s = kit.busy_seconds(ticks0, ticks1)
    ours = driven["worker_cpu_s"] + (result["postgres_cpu_s"] if variant == "pg-local" else 0.0)
    result["other_processes_cpu_s"] = round(max(0.0, busy_s - ours), 2)
    if variant.startswith("sqlite-local"):
        result["postgres_cpu_s"] = 0.0  # not used; whatever PostgreSQL did was someone else's
    else:  # the pool's backends exit before the second reading: not measurable here
        result["postgres_cpu_s"] = None
    watched = driven.pop("watched")
    result.update(driven)
    result.update(finish(watched, args.orders))
    result["checks"] = asyncio.run(counts(db_url))
    if allocate:
        result["warehouses"] = asyncio.run(warehouse_counts(db_url))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def finish(watched: dict[str, Any], n: int) -> dict[str, Any]:
    total = watched.get("all_accepted_s")
    first = watched.get("first_accepted_s")
    return {
        "orders": n,
        "all_accepted_s": round(total, 3) if total else None,
        "first_accepted_s": round(first, 3) if first is not None else None,
        "orders_per_s": round(n / total, 1) if total else None,
        "timeline": watched.get("timeline", []),
        "accepted_at_timeout": watched.get("accepted_at_timeout"),
    }


def cpu_ceiling(r: dict[str, Any]) -> float | None:
    """Orders/s if this machine's cores were all ours: N / the busiest of (one worker's
    CPU, all the benchmark's CPU spread over every core). An upper bound, not a measurement."""
    per_worker = r.get("per_worker_cpu_s") or [r.get("worker_cpu_s") or 0.0]
    total = (r.get("worker_cpu_s") or 0.0) + (r.get("postgres_cpu_s") or 0.0)
    total += r.get("redis_cpu_s") or 0.0
    bound = max(max(per_worker), total / (os.cpu_count() or 1))
    return round(r["orders"] / bound, 0) if bound > 0 else None


def _cell(value: Any) -> str:
    return "n/a" if value is None else str(value)


def markdown(results: list[dict[str, Any]], n: int) -> str:
    lines = [
        "| variant | consumers | orders | all accepted (s) | orders/s | first accepted (s) "
        "| consumer CPU s | PostgreSQL CPU s | other processes' CPU s | CPU ceiling orders/s "
        "| accepted twice | outbox left | dead letters | placed/s (allocation) |",
        "|" + "---|" * 14,
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error'][:80]} |" + " |" * 11)
            continue
        c = r["checks"]
        rate = f"{r['orders_per_s']:,.0f}" if r["orders_per_s"] else "timeout"
        lines.append(
            f"| {r['variant']} | {r['workers']} | {r['orders']:,} | {r['all_accepted_s']} "
            f"| {rate} | {r['first_accepted_s']} | {r.get('worker_cpu_s', '')} "
            f"| {_cell(r.get('postgres_cpu_s'))} | {_cell(r.get('other_processes_cpu_s'))} "
            f"| {cpu_ceiling(r) or ''} "
            f"| {c['orders_accepted_twice']} | {c['outbox_not_done']} | {c['dead_letters']} "
            f"| {_cell(r.get('placed_per_s'))} |"
        )
    lines.append("")
    lines.append(
        f"N = {n:,} placed orders with outbox rows, inserted in one transaction; "
        "`-alloc`: placed through place_batch instead (stock, warehouse allocation, "
        "ship-by), the clock starting at the first batch."
    )
    lines.append(
        "CPU ceiling = N / max(busiest consumer process's CPU s, all benchmark CPU s / cores): "
        "what the same work would reach with the machine to itself (an upper bound)."
    )
    return "\n".join(lines)


def run_one(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    log(f"== {variant}")
    result: dict[str, Any] = {"loadavg_1m_before": kit.loadavg()}
    if variant.startswith("pg-redis-"):
        result.update(run_workers(variant, int(variant.split("-")[2]), args))
    else:
        result.update(run_local(variant, args))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=ALL_VARIANTS)
    parser.add_argument("--pg", default=kit.DEFAULT_PG, help="PostgreSQL server URL (no db)")
    parser.add_argument("--redis", default=kit.DEFAULT_REDIS, help="Redis URL (db is flushed)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the workers (pg-redis-*; implies --keep)"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch db")
    parser.add_argument("--out", default=str(kit.RESULTS / "queue.json"))
    parser.add_argument(
        "--scratch-db", default="livecart_bench_queue", help="PostgreSQL database recreated"
    )
    args = parser.parse_args()
    args.keep = args.keep or args.profile

    info = {"machine": kit.machine(),
            "services": asyncio.run(kit.service_versions(args.pg, args.redis)),
            "params": {"orders": args.orders, "variants": args.variants}}  # fmt: skip
    log(json.dumps(info))
    try:
        results = kit.run_variants(args.variants, lambda v: run_one(v, args), VARIANT_TIMEOUT_S)
    finally:
        used_pg = not args.keep_db and any(v.startswith("pg") for v in args.variants)
        used_redis = any("redis" in v for v in args.variants)
        kit.clean_up(args.pg, [args.scratch_db] * used_pg, args.redis if used_redis else None)
    kit.write_json(Path(args.out), {**info, "results": results})
    print(markdown(results, args.orders))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
