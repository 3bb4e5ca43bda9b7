"""Webhook benchmark: N orders placed in one burst for a creator whose shop listens, and
the same burst with nobody listening (the reference), in the same run.

    python -m bench.webhooks [--orders 1000] [--variants pg-redis sqlite]
                             [--out bench/results/webhooks.json]

Each variant starts as ``bench.flashsale`` does (``pg-redis``: ``livecart serve
--workers 2`` + one ``livecart worker`` on a scratch PostgreSQL database and Redis;
``sqlite``: ``livecart serve``, one process), with a receiver in its own process
(``bench.webhook_receiver``: answers 200 at once). Then, twice — without an endpoint
(reference) and with one subscribed to every event — N buyers order one unit each in
the same second from a separate load-generator process (``bench.orderload``).

Reported: order answers per second and p50/p99 latency (with and without the
endpoint: the added latency), and with the endpoint the deliveries: how many reached
the receiver (every order's ``order.placed`` and ``order.updated`` for its acceptance,
plus ``stock.changed`` per batch), deliveries per second from the burst's start to the
last one, and that every event id arrived. Tracebacks in the server and worker logs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench import flashsale as fs
from bench.benchkit import Child, log

ALL_VARIANTS = ["pg-redis", "sqlite"]
EVENTS = ["order.placed", "order.updated", "stock.changed"]
VARIANT_TIMEOUT_S = 300


async def delivery_counts(db_url: str) -> dict[str, int]:
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.engine.connect() as conn:
            query = "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
            rows = await conn.execute(text(query))
            return {str(s): int(n) for s, n in rows.all()}
    finally:
        await db.dispose()


def receiver_stats(port: int) -> dict[str, Any]:
    status, body = kit.http_json(port, "GET", "/stats")
    assert status == 200, body
    return dict(body)


def wait_delivered(db_url: str, rport: int, limit_s: float) -> dict[str, Any]:
    """Until no delivery is pending (every one delivered or failed), or ``limit_s``."""
    deadline = time.monotonic() + limit_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = asyncio.run(delivery_counts(db_url))
        if counts and not counts.get("pending"):
            break
        time.sleep(0.2)
    return {"deliveries": counts, "receiver": receiver_stats(rport)}


def burst(port: int, tokens: list[str], product_id: int, tag: str, workdir: Path,
          kids: list[Child]) -> tuple[dict[str, Any], float]:  # fmt: skip
    requests, _owners = fs.build_requests(tokens, product_id, 0.0, tag)
    spec = {"port": port, "method": "POST", "path": "/api/orders", "requests": requests,
            "rate": float(len(requests)), "timeout": 120}  # fmt: skip
    started = time.time()
    answer = fs.run_loadgen(spec, workdir, tag, kids)
    return fs.summarise(answer), started


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"webhooks-{variant}-"))
    result: dict[str, Any] = {"variant": variant, "orders": args.orders}
    log(f"== {variant}")
    flash = argparse.Namespace(pg=args.pg, redis=args.redis, scratch_db=args.scratch_db,
                               web_workers=2, stock=2 * args.orders, buyers=args.orders,
                               deal=False)  # fmt: skip
    with kit.children() as kids:
        port, db_url, server = fs.start_variant(variant, flash, workdir, kids)
        rport = kit.free_port()
        receiver = Child("receiver", kit.module_cmd("webhook_receiver", str(rport)),
                         env=kit.base_env(), cwd=kit.ROOT,
                         logfile=workdir / "receiver.log")  # fmt: skip
        kids.append(receiver)
        kit.wait_ready(rport, receiver, path="/stats")
        creator, _live, product_id, _uids, tokens = fs.set_up(variant, port, db_url, flash)
        result["reference"], _ = burst(port, tokens, product_id, "reference", workdir, kids)
        target = kit.free_port() if args.dead_endpoint else rport  # nobody listens there
        hook = {"id": None}
        if not args.control:
            hook = kit.rest(port, "POST", "/api/webhooks",
                            {"url": f"http://127.0.0.1:{target}/hooks", "events": EVENTS},
                            creator)["webhook"]  # fmt: skip
        time.sleep(2.5)  # set-up: every process re-reads who listens within 2 s
        again = fs.mint_tokens(asyncio.run(fs.insert_buyers(db_url, args.orders, "wh")))
        result["with_webhook"], started = burst(port, again, product_id, "hooked", workdir,
                                                kids)  # fmt: skip
        limit = 5 if args.dead_endpoint or args.control else VARIANT_TIMEOUT_S - 60
        waited = wait_delivered(db_url, rport, limit)
        got = waited["receiver"]
        result["deliveries"] = waited["deliveries"]
        result["dead_endpoint"] = args.dead_endpoint
        result["received"] = got
        span = max(1e-9, float(got["last"]) - started) if got["count"] else None
        result["deliveries_per_s"] = round(got["count"] / span, 1) if span else None
        result["all_within_s"] = round(span, 2) if span else None
        result["webhook_id"] = hook["id"]
        result["tracebacks"] = sum(c.log_text().count("Traceback") for c in kids
                                   if c.name in {"serve", "worker"})  # fmt: skip
        result["server_cpu_s"] = round(kit.group_cpu_seconds(server.pid), 2)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| variant | orders | answers/s (ref / hooked) | p50 ms (ref / hooked) "
        "| p99 ms (ref / hooked) | deliveries | distinct ids | deliveries/s | all in (s) "
        "| failed | tracebacks |",
        "|" + "---|" * 11,
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error'][:80]} |" + " |" * 9)
            continue
        ref, hooked, got = r["reference"], r["with_webhook"], r["received"]
        lines.append(
            f"| {r['variant']} | {r['orders']:,} | {ref['answers_per_s']:,.0f} / "
            f"{hooked['answers_per_s']:,.0f} | {ref['p50_ms']:.0f} / {hooked['p50_ms']:.0f} "
            f"| {ref['p99_ms']:.0f} / {hooked['p99_ms']:.0f} | {got['count']:,} "
            f"| {got['distinct_ids']:,} | {r['deliveries_per_s']} | {r['all_within_s']} "
            f"| {r['deliveries'].get('failed', 0)} | {r['tracebacks']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--variants", nargs="+", default=ALL_VARIANTS, choices=ALL_VARIANTS)
    parser.add_argument("--pg", default=kit.DEFAULT_PG)
    parser.add_argument("--redis", default=kit.DEFAULT_REDIS)
    parser.add_argument("--scratch-db", default="livecart_bench_webhooks")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch db")
    parser.add_argument(
        "--control",
        action="store_true",
        help="no endpoint for the second burst either (is a second burst slower?)",
    )
    parser.add_argument("--dead-endpoint", action="store_true",
                        help="the endpoint refuses connections: the outbox's cost on placing "
                             "alone, without the deliveries' CPU")  # fmt: skip
    parser.add_argument("--out", default=str(kit.RESULTS / "webhooks.json"))
    args = parser.parse_args()
    # The receiver is on 127.0.0.1 and the servers run as in production.
    os.environ["LIVECART_WEBHOOK_PRIVATE_OK"] = "1"
    info = {"machine": kit.machine(), "params": {"orders": args.orders}}
    try:
        results = kit.run_variants(args.variants, lambda v: run_variant(v, args),
                                   VARIANT_TIMEOUT_S)  # fmt: skip
    finally:
        used_pg = "pg-redis" in args.variants and not args.keep_db
        kit.clean_up(args.pg, [args.scratch_db] * used_pg, args.redis if used_pg else None)
    kit.write_json(Path(args.out), {**info, "results": results})
    print(markdown(results))
    print(json.dumps([{k: v for k, v in r.items() if k in ("variant", "deliveries")}
                      for r in results]))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
