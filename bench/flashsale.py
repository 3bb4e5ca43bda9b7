"""Flash-sale benchmark: B buyers, one product with K units, the same second.

    python -m bench.flashsale [--buyers 2000] [--stock 100] [--dup-ratio 0.1]
                              [--over 1.0 | --rate N] [--warmup 200]
                              [--variants pg-redis sqlite naive-pg]
                              [--out bench/results/flashsale.json]

Variants, in this order, each on fresh state:

- ``pg-redis``: ``livecart serve --workers 2`` with ``DATABASE_URL`` (a scratch
  PostgreSQL database, recreated) and ``REDIS_URL`` (db 9, flushed), plus one
  ``livecart worker``;
- ``sqlite``: ``livecart serve`` in a fresh temporary directory (embedded
  default: ``./livecart.db``, in-process broker and fulfillment consumer);
- ``naive-pg``: ``bench.naive_shop`` (``--workers 2``, PostgreSQL) — a
  read-then-write checkout without conditional UPDATE or lock, to show what the
  atomic statements prevent.

Set-up: the creator registers and creates the product over REST. The B buyers
are inserted straight into the server's database in one bulk INSERT (one Argon2
hash computed once and shared, instead of B × ~30 ms of hashing), and their
tokens are minted with ``app.tokens.TokenSigner`` and the server's SECRET_KEY;
one ``GET /api/me`` checks a minted token is accepted. Then (livecart) a
warm-up: ``--warmup`` other buyers order another product, as in a shop that is
open before its sale, so connections and caches are warm.

The livecart servers run as deployed: ``LIVECART_ENV=production`` with a
``SECRET_KEY`` (which leaves uvicorn's per-request access log off unless
``LIVECART_ACCESS_LOG=1`` is set in the environment).

The burst: a separate load-generator process (``bench.orderload``: uvloop,
raw asyncio protocols, one keep-alive connection per request, all opened
before the burst) writes B ``POST /api/orders`` (quantity 1, a distinct
Idempotency-Key each) plus a duplicate — same key, same body, on its own
connection, written right after the original — for ``dup-ratio`` of the buyers,
evenly over ``--over`` seconds (default 1: the same second; 0: all in one
loop). Before it, the same generator fires the same number of ``GET /healthz``
the same way at the same server: the HTTP floor (and proof the generator is
not the bottleneck).

Checks afterwards, in the database: orders and units for the product, final
stock, buyers with more than one order, and (livecart) outbox rows; in the
answers: status counts, 5xx, and duplicate pairs answered with two different
orders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench.benchkit import Child, log

ALL_VARIANTS = ["pg-redis", "sqlite", "naive-pg"]
PASSWORD = "bench-password-1"
SHIPPING = {"name": "Flash Buyer", "line1": "1 Main Street", "city": "Springfield",
            "postal_code": "12345", "country": "US"}  # fmt: skip
PRICE = 1999
VARIANT_TIMEOUT_S = 240

# ---------------------------------------------------------------- set-up


async def insert_buyers(db_url: str, count: int, prefix: str = "fsb") -> list[int]:
    """B buyers in one bulk INSERT (one shared Argon2 hash); returns their ids in order."""
    from sqlalchemy import insert, select

    from app.accounts import User, hash_password
    from app.db import Database
    from common.times import utcnow

    db = Database.from_url(db_url)
    try:
        password_hash = await hash_password(PASSWORD)
        now = utcnow()
        rows = [{"username": f"{prefix}_{i:06d}", "password_hash": password_hash,
                 "role": "viewer", "created_at": now} for i in range(count)]  # fmt: skip
        table = User.__table__  # type: ignore[attr-defined]
        async with db.write_engine.begin() as conn:
            await conn.execute(insert(table), rows)
        async with db.engine.connect() as conn:
            found = await conn.execute(
                select(table.c.id, table.c.username).where(table.c.username.like(f"{prefix}_%"))
            )
            by_name = {name: uid for uid, name in found.all()}
        return [by_name[f"{prefix}_{i:06d}"] for i in range(count)]
    finally:
        await db.dispose()


async def naive_product(pg_dsn: str, stock: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    try:
        pid: int = await conn.fetchval(
            "INSERT INTO naive_products (stock, price_cents) VALUES ($1, $2) RETURNING id",
            stock, PRICE,
        )  # fmt: skip
        return pid
    finally:
        await conn.close()


def mint_tokens(uids: list[int]) -> list[str]:
    from app.tokens import TokenSigner

    signer = TokenSigner(kit.SECRET_KEY, 3600)
    return [signer.issue(uid) for uid in uids]


# ---------------------------------------------------------------- checks


async def livecart_facts(db_url: str, product_id: int) -> dict[str, Any]:
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.engine.connect() as conn:

            async def one(sql: str) -> Any:
                return (await conn.execute(text(sql), {"p": product_id})).one()

            stock, sold = await one("SELECT stock, sold FROM products WHERE id = :p")
            orders, units = await one(
                "SELECT count(*), coalesce(sum(quantity), 0) FROM orders WHERE product_id = :p"
            )
            (multi,) = await one(
                "SELECT count(*) FROM (SELECT buyer_id FROM orders WHERE product_id = :p "
                "GROUP BY buyer_id HAVING count(*) > 1) AS t"
            )
            (keyed,) = await one(
                "SELECT count(*) FROM idempotency_keys k JOIN orders o ON o.id = k.order_id "
                "WHERE o.product_id = :p"
            )
            (outbox,) = await one(
                "SELECT count(*) FROM fulfillment_outbox x JOIN orders o ON o.id = x.order_id "
                "WHERE o.product_id = :p"
            )
        return {"stock": int(stock), "sold": int(sold), "orders": int(orders),
                "units": int(units), "buyers_with_2plus_orders": int(multi),
                "idempotency_rows": int(keyed), "outbox_rows": int(outbox)}  # fmt: skip
    finally:
        await db.dispose()


async def wait_accepted(db_url: str, product_id: int, limit_s: float) -> float | None:
    """Seconds until every order of the product is past ``placed`` (None: not within timeout)."""
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit_s:
            async with db.engine.connect() as conn:
                (left,) = (await conn.execute(text(
                    "SELECT count(*) FROM orders WHERE product_id = :p AND status = 'placed'"),
                    {"p": product_id})).one()  # fmt: skip
            if left == 0:
                return round(time.monotonic() - start, 2)
            await asyncio.sleep(0.1)
        return None
    finally:
        await db.dispose()


async def naive_facts(pg_dsn: str, product_id: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    try:
        stock = await conn.fetchval("SELECT stock FROM naive_products WHERE id = $1", product_id)
        orders, units = await conn.fetchrow(
            "SELECT count(*), coalesce(sum(quantity), 0) FROM naive_orders WHERE product_id = $1",
            product_id,
        )
        multi = await conn.fetchval(
            "SELECT count(*) FROM (SELECT buyer_id FROM naive_orders WHERE product_id = $1 "
            "GROUP BY buyer_id HAVING count(*) > 1) AS t", product_id,
        )  # fmt: skip
        same_key = await conn.fetchval(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM naive_orders "
            "WHERE product_id = $1 GROUP BY buyer_id, idempotency_key) AS t", product_id,
        )  # fmt: skip
        return {"stock": int(stock), "orders": int(orders), "units": int(units),
                "buyers_with_2plus_orders": int(multi),
                "extra_orders_same_key": int(same_key)}  # fmt: skip
    finally:
        await conn.close()


# ---------------------------------------------------------------- the burst


def run_loadgen(spec: dict[str, Any], workdir: Path, name: str,
                kids: list[Child]) -> dict[str, Any]:  # fmt: skip
    spec_path, out_path = workdir / f"{name}.spec.json", workdir / f"{name}.out.json"
    spec_path.write_text(json.dumps(spec))
    gen = Child(f"loadgen-{name}", kit.module_cmd("orderload", str(spec_path), str(out_path)),
                env=kit.base_env(), cwd=kit.ROOT,
                logfile=workdir / f"{name}.loadgen.log")  # fmt: skip
    kids.append(gen)
    try:
        gen.proc.wait(float(spec.get("timeout", 120)) + 60)
    finally:
        gen.stop()
    if gen.proc.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"load generator failed ({gen.proc.returncode}):\n{gen.log_tail()}")
    answer: dict[str, Any] = json.loads(out_path.read_text())
    return answer


def last_new_order(rows: list[list[Any]]) -> float:
    """When the last order was first answered (a replayed duplicate answered later is not
    a sale): the max over order ids of the earliest 201 carrying that id."""
    earliest: dict[Any, float] = {}
    for _sent, received, status, body in rows:
        if status != 201:
            continue
        try:
            order_id = json.loads(body)["order"]["id"]
        except (ValueError, KeyError, TypeError):
            continue
        earliest[order_id] = min(received, earliest.get(order_id, received))
    return max(earliest.values(), default=0.0)


def summarise(answer: dict[str, Any]) -> dict[str, Any]:
    rows = answer["results"]
    answered = [r for r in rows if r[2] != 0]
    lat = sorted((r[1] - r[0]) * 1000 for r in answered)
    first = min((r[0] for r in rows), default=0.0)
    last = max((r[1] for r in answered), default=0.0)
    wall = max(last - first, 1e-9)
    statuses = Counter(str(r[2]) for r in rows)
    return {
        "requests": len(rows),
        "answered": len(answered),
        "wall_s": round(wall, 3),
        "answers_per_s": round(len(answered) / wall, 1),
        **{f"{k}_ms": v for k, v in kit.summary(lat, (50, 90, 99)).items() if k != "mean"},
        "last_201_s": round(last_new_order(rows) - first, 3),
        "statuses": dict(sorted(statuses.items())),
        "status_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "connection_errors": statuses.get("0", 0),
        "send_spread_ms": round(answer["send_spread_s"] * 1000, 1),
        "connect_s": answer["open_s"],
        "loadgen_cpu_s": answer["loadgen_cpu_s"],
        "loadgen_cpu_share": round(answer["loadgen_cpu_s"] / wall, 2),
        "error_samples": answer["errors"][:5],
    }


def warm_up(port: int, db_url: str, creator: str, count: int, workdir: Path,
            kids: list[Child]) -> dict[str, Any]:  # fmt: skip
    """A shop is open before its flash sale: ``count`` other buyers order another product
    (stock for half of them), so the server's connections and caches are warm. Its own
    buyers, so the sale's buyers are not in the user cache."""
    product = kit.rest(port, "POST", "/api/products",
                       {"title": "Everyday item", "price_cents": PRICE, "stock": count // 2},
                       creator)["product"]  # fmt: skip
    tokens = mint_tokens(asyncio.run(insert_buyers(db_url, count, prefix="fsw")))
    requests, _owners = build_requests(tokens, product["id"], 0.0, "warmup")
    spec = {"port": port, "method": "POST", "path": "/api/orders", "requests": requests,
            "timeout": 60}  # fmt: skip
    answer = run_loadgen(spec, workdir, "warmup", kids)
    statuses = Counter(str(r[2]) for r in answer["results"])
    log(f"  warm-up: {count} orders of another product: {dict(statuses)}")
    return {"orders": count, "statuses": dict(statuses)}


def open_deal(port: int, creator: str, product_id: int, units: int) -> int:
    """A running live pinning the product with a flash deal on all its units (half price,
    one per buyer, ten minutes); returns the live's id."""
    live = kit.rest(port, "POST", "/api/lives", {"title": "Flash show"}, creator)["live"]
    kit.rest(port, "POST", f"/api/lives/{live['id']}/start", None, creator)
    deal = {"price_cents": PRICE // 2, "quantity": units, "per_buyer_limit": 1,
            "duration_s": 600}  # fmt: skip
    kit.rest(port, "POST", f"/api/lives/{live['id']}/pin",
             {"product_id": product_id, "deal": deal}, creator)  # fmt: skip
    return int(live["id"])


def build_requests(
    tokens: list[str],
    product_id: int,
    dup_ratio: float,
    run_tag: str,
    live_id: int | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """The burst: one request per buyer, each duplicate right after its original.

    Returns the requests and, per request, the buyer's index.
    """
    every = max(1, round(1 / dup_ratio)) if dup_ratio > 0 else 0
    requests: list[dict[str, Any]] = []
    owners: list[int] = []
    for i, token in enumerate(tokens):
        fields: dict[str, Any] = {"product_id": product_id, "quantity": 1, "shipping": SHIPPING}
        if live_id is not None:
            fields["live_id"] = live_id
        body = json.dumps(fields)
        item = {"token": token, "key": f"flash-{run_tag}-{i}", "body": body}
        requests.append(item)
        owners.append(i)
        if every and i % every == 0:
            requests.append(dict(item))
            owners.append(i)
    return requests, owners


def duplicate_answers(answer: dict[str, Any], owners: list[int]) -> dict[str, int]:
    """Per buyer, the distinct order ids answered with 201 (more than one = a duplicate)."""
    by_buyer: dict[int, set[Any]] = {}
    pairs_both_201 = 0
    seen_201: Counter[int] = Counter()
    for (_s, _r, status, body), owner in zip(answer["results"], owners, strict=True):
        if status == 201:
            seen_201[owner] += 1
            try:
                order_id = json.loads(body)["order"]["id"]
            except (ValueError, KeyError, TypeError):
                order_id = None
            by_buyer.setdefault(owner, set()).add(order_id)
    pairs_both_201 = sum(1 for n in seen_201.values() if n > 1)
    distinct_orders = sum(len(ids) for ids in by_buyer.values())
    return {
        "duplicate_pairs_both_201": pairs_both_201,
        "buyers_answered_2_orders": sum(1 for ids in by_buyer.values() if len(ids) > 1),
        "distinct_orders_answered": distinct_orders,
    }


# ---------------------------------------------------------------- variants


def naive_db(args: argparse.Namespace) -> str:
    return f"{args.scratch_db}_naive"


def start_variant(variant: str, args: argparse.Namespace, workdir: Path,
                  kids: list[Child]) -> tuple[int, str, Child]:  # fmt: skip
    """Start the servers; return (port, database URL, the web server child)."""
    port = kit.free_port()
    livecart = kit.livecart_exe()
    if variant == "pg-redis":
        asyncio.run(kit.reset_database(args.pg, args.scratch_db))
        kit.flush_redis(args.redis)
        env = kit.base_env(DATABASE_URL=kit.pg_url(args.pg, args.scratch_db),
                           REDIS_URL=args.redis, LIVECART_ENV="production",
                           **kit.ONE_LOAD_ADDRESS)  # fmt: skip
        server = Child("serve", [livecart, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(args.web_workers)],
                       env=env, cwd=workdir, logfile=workdir / "serve.log")  # fmt: skip
        kids.append(server)
        kit.wait_ready(port, server)
        worker = Child("worker", [livecart, "worker"], env=env, cwd=workdir,
                       logfile=workdir / "worker.log")  # fmt: skip
        kids.append(worker)
        kit.wait_log(worker, "fulfillment worker")
        return port, kit.pg_url(args.pg, args.scratch_db, "postgresql+asyncpg"), server
    if variant == "sqlite":
        env = kit.base_env(LIVECART_ENV="production", **kit.ONE_LOAD_ADDRESS)
        server = Child("serve", [livecart, "serve", "--host", "127.0.0.1", "--port", str(port)],
                       env=env, cwd=workdir, logfile=workdir / "serve.log")  # fmt: skip
        kids.append(server)
        kit.wait_ready(port, server)
        return port, f"sqlite+aiosqlite:///{workdir / 'livecart.db'}", server
    if variant == "naive-pg":
        asyncio.run(kit.reset_database(args.pg, naive_db(args)))
        dsn = kit.pg_url(args.pg, naive_db(args))
        env = kit.base_env(NAIVE_DATABASE_URL=dsn)
        cmd = kit.module_cmd("naive_shop", "--port", str(port), "--workers", str(args.web_workers))
        server = Child("naive", cmd,
                       env=env, cwd=kit.ROOT, logfile=workdir / "naive.log")  # fmt: skip
        kids.append(server)
        kit.wait_ready(port, server, path="/healthz")
        return port, dsn, server
    raise ValueError(variant)


def set_up(variant: str, port: int, db_url: str,
           args: argparse.Namespace) -> tuple[str, int, int, list[int], list[str]]:  # fmt: skip
    """The product (and, with ``--deal``, the live) and the buyers: (creator token, live id,
    product id, buyer ids, buyer tokens)."""
    creator, live_id = "", 0
    if variant == "naive-pg":
        product_id = asyncio.run(naive_product(db_url, args.stock))
        uids = list(range(1, args.buyers + 1))
        return creator, live_id, product_id, uids, mint_tokens(uids)
    creator = kit.rest(port, "POST", "/api/auth/register",
                       {"username": "fs_creator", "password": PASSWORD,
                        "role": "creator"})["token"]  # fmt: skip
    product = kit.rest(port, "POST", "/api/products",
                       {"title": "Flash item", "price_cents": PRICE, "stock": args.stock},
                       creator)["product"]  # fmt: skip
    product_id = product["id"]
    if args.deal:
        live_id = open_deal(port, creator, product_id, args.stock)
    uids = asyncio.run(insert_buyers(db_url, args.buyers))
    tokens = mint_tokens(uids)
    status, me = kit.http_json(port, "GET", "/api/me", token=tokens[0])
    if status != 200 or me["user"]["id"] != uids[0]:
        raise RuntimeError(f"minted token refused: {status} {me}")
    return creator, live_id, product_id, uids, tokens


def cpu_reading(server: Child, kids: list[Child]) -> dict[str, Any]:
    helpers = [c for c in kids if c.name == "worker"]
    return {"server": kit.group_cpu_seconds(server.pid), "ticks": kit.machine_ticks(),
            "workers": sum(kit.group_cpu_seconds(c.pid) for c in helpers),
            "services": kit.cpu_by_command()}  # fmt: skip


def account_cpu(burst: dict[str, Any], before: dict[str, Any], after: dict[str, Any],
                variant: str, args: argparse.Namespace) -> None:  # fmt: skip
    """The burst's CPU: per process kind, per answer, the ceiling, and everyone else's."""
    burst["server_cpu_s"] = round(after["server"] - before["server"], 2)
    burst["worker_cpu_s"] = round(after["workers"] - before["workers"], 2)
    for name, key in (("postgres", "postgres_cpu_s"), ("redis-server", "redis_cpu_s")):
        burst[key] = round(after["services"][name] - before["services"][name], 2)
    ours = burst["server_cpu_s"] + burst["worker_cpu_s"] + burst["postgres_cpu_s"]
    ours += burst["redis_cpu_s"] + burst["loadgen_cpu_s"]
    burst["cpu_ms_per_answer"] = round(1000 * ours / max(1, burst["answered"]), 2)
    burst["machine_busy_pct"] = kit.busy_percent(before["ticks"], after["ticks"])
    # With the machine to itself: the web processes can use at most one core each,
    # and everything together at most every core. An upper bound, not a measurement.
    web = 1 if variant == "sqlite" else args.web_workers
    bound = max(burst["server_cpu_s"] / web, ours / (os.cpu_count() or 1))
    burst["cpu_ceiling_answers_per_s"] = round(burst["answered"] / bound) if bound else None
    # The machine's CPU time in the burst minus what the benchmark's processes used:
    busy_s = kit.busy_seconds(before["ticks"], after["ticks"])
    burst["other_processes_cpu_s"] = round(max(0.0, busy_s - ours), 2)


def check(variant: str, db_url: str, product_id: int, args: argparse.Namespace,
          result: dict[str, Any]) -> None:  # fmt: skip
    """What the database says after the burst: oversold units, duplicate orders."""
    if variant == "naive-pg":
        facts = asyncio.run(naive_facts(db_url, product_id))
        extra = facts["extra_orders_same_key"]
    else:
        facts = asyncio.run(livecart_facts(db_url, product_id))
        extra = facts["orders"] - facts["idempotency_rows"]
        result["accepted_within_s"] = asyncio.run(wait_accepted(db_url, product_id, 30.0))
    result["db"] = facts
    result["oversold_units"] = max(0, facts["units"] - args.stock)
    result["negative_stock"] = facts["stock"] < 0
    result["duplicate_orders"] = max(
        facts["buyers_with_2plus_orders"], extra, result["answers"]["buyers_answered_2_orders"]
    )


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"flashsale-{variant}-"))
    result: dict[str, Any] = {"variant": variant, "loadavg_1m_before": kit.loadavg()}
    log(f"== {variant} (workdir {workdir})")
    with kit.children() as kids:
        port, db_url, server = start_variant(variant, args, workdir, kids)
        t_setup = time.monotonic()
        creator, live_id, product_id, uids, tokens = set_up(variant, port, db_url, args)
        result["setup_s"] = round(time.monotonic() - t_setup, 2)
        log(f"  set-up {result['setup_s']} s: product {product_id}, {len(uids)} buyers")
        if variant != "naive-pg" and args.warmup:
            result["warmup"] = warm_up(port, db_url, creator, args.warmup, workdir, kids)
        requests, owners = build_requests(tokens, product_id, args.dup_ratio, variant,
                                          live_id=live_id if args.deal else None)  # fmt: skip
        spec = {"port": port, "requests": requests, "rate": send_rate(args, len(requests))}
        if args.calibrate:
            fcpu0 = kit.group_cpu_seconds(server.pid)
            floor = run_loadgen({**spec, "method": "GET", "path": "/healthz", "timeout": 60,
                                 "requests": [{} for _ in requests]}, workdir, "healthz",
                                kids)  # fmt: skip
            result["healthz_floor"] = summarise(floor)
            result["healthz_floor"]["server_cpu_s"] = round(
                kit.group_cpu_seconds(server.pid) - fcpu0, 2
            )
            log(f"  /healthz floor: {result['healthz_floor']['answers_per_s']}/s, "
                f"p99 {result['healthz_floor']['p99_ms']} ms")  # fmt: skip
        targets = [c for c in kids if c.name in {"serve", "worker", "naive"}]
        spies = (kit.start_profilers(targets, kids, workdir, variant, subprocesses=True)
                 if args.profile else [])  # fmt: skip
        before = cpu_reading(server, kids)
        answer = run_loadgen({**spec, "method": "POST", "path": "/api/orders", "timeout": 120},
                             workdir, "orders", kids)  # fmt: skip
        after = cpu_reading(server, kids)
        if spies:
            result["profiles"] = kit.stop_profilers(spies)
        result["burst"] = summarise(answer)
        account_cpu(result["burst"], before, after, variant, args)
        result["answers"] = duplicate_answers(answer, owners)
        result["duplicates_sent"] = len(requests) - len(tokens)
        check(variant, db_url, product_id, args, result)
        result["server_log_errors"] = sum(
            1 for line in server.log_text().splitlines()
            if "Traceback" in line or line.startswith("ERROR")
        )  # fmt: skip
    result["loadavg_1m_after"] = kit.loadavg()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    columns = [
        "variant", "requests", "answers/s", "p50 ms", "p99 ms", "201", "409", "other", "5xx",
        "orders in DB", "final stock", "oversold", "duplicates", "last unit sold at s",
        "CPU ms/answer", "others' CPU s", "CPU ceiling answers/s", "/healthz floor/s",
    ]  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        if "error" in r:
            cells = [r["variant"], f"failed: {r['error'][:80]}"] + [""] * (len(columns) - 2)
        else:
            b, st = r["burst"], r["burst"]["statuses"]
            floor = r.get("healthz_floor", {}).get("answers_per_s")
            cells = [
                r["variant"], b["requests"], f"{b['answers_per_s']:,.0f}", _ms(b["p50_ms"]),
                _ms(b["p99_ms"]), st.get("201", 0), st.get("409", 0),
                sum(n for s, n in st.items() if s not in {"201", "409"}), b["status_5xx"],
                r["db"]["orders"], r["db"]["stock"], r["oversold_units"], r["duplicate_orders"],
                b["last_201_s"], b["cpu_ms_per_answer"], b["other_processes_cpu_s"],
                b.get("cpu_ceiling_answers_per_s", ""), f"{floor:,.0f}" if floor else "",
            ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    lines.append(
        f"B = {args.buyers} buyers, K = {args.stock} units, {args.dup_ratio:.0%} of buyers "
        "also send a duplicate (same key and body). CPU ms/answer: CPU used by the server, "
        "worker, PostgreSQL, Redis and the load generator during the burst, per answer; "
        "others' CPU s: CPU the rest of the machine used meanwhile; CPU ceiling: answers / "
        "max(web CPU s per web process, all that CPU / cores), what the same work would reach "
        "with the machine to itself (an upper bound: the hot-row lock is not counted)."
    )
    return "\n".join(lines)


def send_rate(args: argparse.Namespace, requests: int) -> float:
    """Requests per second for the load generator (0: all at once)."""
    if args.rate is not None:
        return float(args.rate)
    return requests / args.over if args.over > 0 else 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--dup-ratio", type=float, default=0.1)
    parser.add_argument("--variants", nargs="+", default=ALL_VARIANTS, choices=ALL_VARIANTS)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--over",
        type=float,
        default=1.0,
        help="send the burst evenly over this many seconds (default 1: 'the same second'; "
        "0: all at once, as fast as the generator can write)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="send at this many requests per second instead (overrides --over)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="orders of another product by other buyers before the sale (0: none)",
    )
    parser.add_argument(
        "--deal",
        action="store_true",
        help="livecart variants: buy through a running live whose flash deal covers the "
        "K units (half price, 1 per buyer), as in a live show",
    )
    parser.add_argument("--pg", default=kit.DEFAULT_PG, help="PostgreSQL server URL (no db)")
    parser.add_argument("--redis", default=kit.DEFAULT_REDIS, help="Redis URL (db is flushed)")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the server/worker processes during the burst (implies --keep)",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch dbs")
    parser.add_argument("--out", default=str(kit.RESULTS / "flashsale.json"))
    parser.add_argument(
        "--scratch-db",
        default="livecart_bench",
        help="PostgreSQL database recreated for the sale (the naive shop's: NAME_naive)",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.profile
    return args


def main() -> int:
    args = parse_args()
    info = {"machine": kit.machine(),
            "services": asyncio.run(kit.service_versions(args.pg, args.redis)),
            "params": {"buyers": args.buyers, "stock": args.stock, "dup_ratio": args.dup_ratio,
                       "over_s": args.over, "rate": args.rate, "deal": args.deal,
                       "web_workers": args.web_workers, "variants": args.variants}}  # fmt: skip
    log(json.dumps(info))
    try:
        results = kit.run_variants(args.variants, lambda v: run_variant(v, args), VARIANT_TIMEOUT_S)
    finally:
        if not args.keep_db:
            dbs = {"pg-redis": args.scratch_db, "naive-pg": naive_db(args)}
            used = [dbs[v] for v in args.variants if v in dbs]
            kit.clean_up(args.pg, used, args.redis if "pg-redis" in args.variants else None)
    kit.write_json(Path(args.out), {**info, "results": results})
    print(markdown(results, args))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
