"""Warehouse documents benchmark: the pick list of N accepted orders, as PDF.

    python -m bench.documents [--orders 1000] [--products 10] [--requests 5]
                              [--variants pg-redis sqlite] [--repeat 1]
                              [--pg URL --redis URL --scratch-db NAME] [--out FILE]

Issue 15's target: a pick list of 1,000 orders rendered in under 2 s.

Per variant, a fresh server (``bench.auction.start_server``: ``pg-redis`` is
``livecart serve --workers 2`` on PostgreSQL and Redis, ``sqlite`` is ``livecart
serve`` on its embedded defaults). Set-up: a staff account (``app.accounts.create_user``
in the server's database, then ``POST /api/auth/login``), a creator and ``--products``
products over the API, one buyer inserted in bulk (``bench.flashsale``); then N orders
straight into the database in ONE transaction (``bench.fulfillment.insert_orders``:
placed orders, their history and outbox rows), which in the same transaction spreads
them round-robin over the products with 1-3 units each, moves them to ``accepted`` with
an ``accepted`` history line and marks their outbox rows done, so the server's queue
(relay or in-process consumer) has nothing to do and never races the set-up.

Measured from this process over HTTP, one request at a time, each on a new connection,
wall time from connect to the last byte of the body: ``--requests`` times
``GET /api/fulfillment/pick-list?warehouse=MAIN`` (the PDF), and as the reference in
the same run ``--requests`` times ``GET /api/fulfillment/orders?status=accepted&limit=200``
(a page of the board, JSON: the same orders read and serialised, nothing rendered).
Also kept: the server's CPU seconds per pick list and the load average (the machine
may be shared).

Checks, on every pick list: status 200, ``application/pdf``; the PDF parses (pypdf),
its text says "N orders, U units, P products" and has exactly one line
"Order #<id> - <qty> x" for each of the N orders with that order's quantity, and the
products' headings with their units; the board answers 200 with 200 accepted orders;
no traceback in the server log.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench.auction import start_server
from bench.benchkit import log
from bench.comments import add_server_flags, run_all, stop_server
from bench.flashsale import PASSWORD, insert_buyers
from bench.fulfillment import insert_orders

STAFF = "doc_staff"
PICK_LIST = "/api/fulfillment/pick-list?warehouse=MAIN"
BOARD = "/api/fulfillment/orders?status=accepted&limit=200"
ORDER_LINE = re.compile(r"Order #(\d+) - (\d+) x")
HEADING = re.compile(r"\(product (\d+)\): (\d+) units")

# Run in insert_orders' transaction, after its placed orders (ids 1..n), history and
# outbox rows: order i gets the products' (i - 1) mod P-th product and 1 + i mod 3 units,
# is accepted as the queue would accept it, and its outbox row is done.
ACCEPT = (
    "UPDATE orders SET product_id = p.id, quantity = 1 + orders.id % 3, "
    "total_cents = orders.unit_price_cents * (1 + orders.id % 3), status = 'accepted', "
    "updated_at = :now FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, "
    "count(*) OVER () AS c FROM products) AS p WHERE p.k = (orders.id - 1) % p.c",
    "INSERT INTO order_events (order_id, status, at, by) "
    "SELECT id, 'accepted', :now, 'fulfillment' FROM orders",
    "UPDATE fulfillment_outbox SET relayed_at = :now, done_at = :now",
)


def quantity(order_id: int) -> int:
    return 1 + order_id % 3


async def create_staff(db_url: str) -> None:
    from app import accounts
    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.write() as session:
            await accounts.create_user(session, STAFF, PASSWORD, accounts.Role.STAFF)
    finally:
        await db.dispose()


def set_up(port: int, db_url: str, n: int, products: int) -> dict[str, Any]:
    asyncio.run(create_staff(db_url))
    staff = kit.rest(port, "POST", "/api/auth/login",
                     {"username": STAFF, "password": PASSWORD})["token"]  # fmt: skip
    creator = kit.rest(port, "POST", "/api/auth/register",
                       {"username": "doc_creator", "password": PASSWORD,
                        "role": "creator"})["token"]  # fmt: skip
    product_ids = [
        kit.rest(port, "POST", "/api/products",
                 {"title": f"Shelf item {i + 1}", "price_cents": 1999, "stock": 0},
                 creator)["product"]["id"]
        for i in range(products)
    ]  # fmt: skip
    (buyer,) = asyncio.run(insert_buyers(db_url, 1, prefix="docb"))
    started = time.monotonic()
    committed = asyncio.run(insert_orders(db_url, n, buyer, product_ids[0], then=ACCEPT))
    log(f"  {n:,} accepted orders over {products} products in {committed - started:.2f} s")
    return {"staff": staff, "product_ids": sorted(product_ids)}


def get(port: int, path: str, token: str) -> tuple[float, int, str, bytes]:
    """One GET on a new connection: (ms from connect to the body's last byte, status,
    content type, body)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, resp.status, resp.getheader("Content-Type") or "", body
    finally:
        conn.close()


def check_pdf(body: bytes, n: int, product_ids: list[int]) -> dict[str, Any]:
    """What the PDF says against the orders inserted: pages, size and the mismatches."""
    from pypdf import PdfReader

    found: dict[str, Any] = {"size_kb": round(len(body) / 1024, 1), "pages": None}
    try:
        reader = PdfReader(io.BytesIO(body))
        text = "\n".join(page.extract_text() for page in reader.pages)
    except Exception as exc:  # not a PDF pypdf reads: the check fails, the run goes on
        return {**found, "parse_error": repr(exc)[:300]}
    lines = Counter((int(i), int(q)) for i, q in ORDER_LINE.findall(text))
    want = {(i, quantity(i)) for i in range(1, n + 1)}
    units = {p: 0 for p in product_ids}
    for i in range(1, n + 1):
        units[product_ids[(i - 1) % len(product_ids)]] += quantity(i)
    used = {p: u for p, u in units.items() if u}
    headings = {int(p): int(u) for p, u in HEADING.findall(text)}
    headline = f"{n} orders, {sum(used.values())} units, {len(used)} products"
    return {
        **found,
        "pages": len(reader.pages),
        "headline": headline in text,
        "order_lines": sum(lines.values()),
        "orders_missing": sorted(i for i, _q in want - set(lines))[:10],
        "unexpected_lines": sorted(k for k in lines if k not in want)[:10],
        "orders_twice": sorted(i for (i, _q), c in lines.items() if c > 1)[:10],
        "headings_match": headings == used,
    }


def pdf_ok(c: dict[str, Any]) -> bool:
    wrong = c.get("orders_missing") or c.get("unexpected_lines") or c.get("orders_twice")
    return bool(c.get("pages")) and c["headline"] and c["headings_match"] and not wrong


def measure(port: int, s: dict[str, Any], n: int, requests: int, server_pid: int,
            out: dict[str, Any]) -> None:  # fmt: skip
    """The pick lists, then the board pages, one at a time; what they cost and the
    checks in ``out``."""
    pick_ms, cpu_ms, busy, checks, answers = [], [], [], [], []
    for _ in range(requests):
        cpu0, ticks0 = kit.group_cpu_seconds(server_pid), kit.machine_ticks()
        ms, status, ctype, body = get(port, PICK_LIST, s["staff"])
        cpu_ms.append(round(1000 * (kit.group_cpu_seconds(server_pid) - cpu0)))
        busy.append(kit.busy_percent(ticks0, kit.machine_ticks()))
        pick_ms.append(ms)
        answers.append([status, ctype])
        checks.append(check_pdf(body, n, s["product_ids"]) if status == 200 else
                      {"status": status, "body": body[:300].decode(errors="replace")})  # fmt: skip
    board_ms, board_answers = [], []
    for _ in range(requests):
        ms, status, ctype, body = get(port, BOARD, s["staff"])
        board_ms.append(ms)
        listed = json.loads(body)["orders"] if status == 200 else []
        board_answers.append([status, ctype, len(listed),
                              sum(o["status"] == "accepted" for o in listed)])  # fmt: skip
    out["pick_list_ms"] = {**kit.summary(pick_ms, (50,)), "values": [round(v) for v in pick_ms]}
    out["server_cpu_ms_per_pick_list"] = {**kit.summary(cpu_ms, (50,)), "values": cpu_ms}
    out["machine_busy_pct_during_pick_lists"] = busy
    out["board_ms"] = {**kit.summary(board_ms, (50,)), "values": [round(v) for v in board_ms]}
    out["pick_list_answers"], out["board_answers"] = answers, board_answers
    out["pdf_checks"] = checks


def ok(r: dict[str, Any]) -> bool:
    checks, answers = r.get("pdf_checks") or [], r.get("pick_list_answers") or []
    page = min(200, r["orders"])
    return bool(checks) and r["tracebacks"] == 0 \
        and all(a == [200, "application/pdf"] for a in answers) \
        and all(pdf_ok(c) for c in checks) \
        and all(b == [200, "application/json", page, page] for b in r["board_answers"])  # fmt: skip


def run(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"documents-{variant}-"))
    out: dict[str, Any] = {"variant": variant, "orders": args.orders, "loadavg_1m": kit.loadavg()}
    log(f"== {variant}, {args.orders:,} orders (workdir {workdir})")
    with kit.children() as kids:
        port, db_url, server = start_server(variant, args, workdir, kids)
        s = set_up(port, db_url, args.orders, args.products)
        try:
            measure(port, s, args.orders, args.requests, server.pid, out)
        finally:
            stop_server(server, out)
    out["loadavg_1m_after"] = kit.loadavg()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    out["ok"] = ok(out)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    head = (
        "| variant | orders | pick list p50 / max ms | reference: board page p50 / max ms "
        "| server CPU ms per pick list (p50) | PDF KB | pages | load avg | correct |"
    )
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['variant']} | failed: {r['error']} |")
            continue
        p, b, c = r["pick_list_ms"], r["board_ms"], r["pdf_checks"][0]
        rows.append(f"| {r['variant']} | {r['orders']:,} | {p['p50']:,.0f} / {p['max']:,.0f} | "
                    f"{b['p50']:,.0f} / {b['max']:,.0f} | "
                    f"{r['server_cpu_ms_per_pick_list']['p50']:,.0f} | {c.get('size_kb')} | "
                    f"{c.get('pages')} | {r['loadavg_1m']} | "
                    f"{'yes' if r['ok'] else 'NO'} |")  # fmt: skip
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--orders", type=int, default=1000, help="accepted orders on the pick list")
    add("--products", type=int, default=10, help="the orders are spread over these")
    add("--requests", type=int, default=5, help="pick lists (and board pages) fetched")
    add_server_flags(p, "livecart_bench_documents", "documents.json")
    args = p.parse_args(argv)
    args.cprofile = False  # start_server's option, not offered here
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_all(args, lambda v: run(v, args), markdown)


if __name__ == "__main__":
    sys.exit(main())
