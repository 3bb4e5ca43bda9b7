"""Giveaway benchmark: N viewers enter a giveaway in the same second, then the draw.

    python -m bench.giveaways [--viewers 2000] [--duration 600] [--variants pg-redis sqlite]
                              [--repeat 1] [--pg URL --redis URL --scratch-db NAME]
                              [--out FILE]

Per variant, a fresh server (``bench.auction.start_server``: ``pg-redis`` is
``livecart serve --workers 2`` on PostgreSQL and Redis, ``sqlite`` is ``livecart
serve`` on its embedded defaults). Set-up over the API: a creator, a product with one
unit, a running live and a giveaway of that unit open for ``--duration`` s with the
keyword ``WIN``; the N viewers are inserted in bulk (``bench.flashsale``) and each saves
an address and ``tok_visa`` over the API (entrants need a checkout profile). The load
generator (this process, ``bench.comments`` sockets) connects the N viewers' sockets:
entrants must be watching.

Reference, same run, same sockets (``bench.comments.chat_reference``): every viewer
sends one ordinary chat line at once; its latency is send -> the sender's own ``chat``
frame. A line refused instead (an ``error`` frame, e.g. ``busy``) is counted in
``reference_refused`` and left out of the latencies; that viewer still enters.

The storm: every viewer sends ``{"type": "enter", "giveaway_id": ...}`` in the same
loop turn. Latency of an entry: send -> that socket's ``giveaway_entered`` (or
``error``); entries per second: N over first send -> last answer.

The draw: there is no API to end a giveaway early, so the benchmark sets the
giveaway's ``ends_at`` to now straight in the database (as it inserts the viewers) and
measures ``ends_at`` -> the ``giveaway_ended`` frame on every socket. The server's
giveaway clock looks at least once a second, so up to ~1 s of that is waiting for its
next pass (``clock_wait_ms``: ``ends_at`` -> the giveaway's ``drawn_at``); then the
draw's transaction and the fan-out to N sockets. Also kept: ``ends_at`` -> the winner's
prize ``order`` frame.

Checks: every answer ``giveaway_entered``, the largest ``entries`` answered is N; after
the draw ``GET /api/giveaways/{id}`` has N entries and N entrants (the N viewers), every
socket got the same ``giveaway_ended``, and its winner is the published one; the winner
recomputed from the seed and the entrants per the contract (sha256(seed) is seed_hash,
index = sha256(seed + ":" + ids in entry order) mod N); the winner's ``GET /api/orders``
has exactly one order with source ``giveaway`` and total 0 (the giveaway's
``order_id``), the database exactly one such order, the product's stock 0 (the unit
went to the winner); no traceback in the server log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import benchkit as kit
from bench.auction import save_profiles, start_server
from bench.benchkit import log
from bench.comments import (
    BuyerSock,
    add_server_flags,
    chat_reference,
    connect,
    cpu_mark,
    cpu_spent,
    run_all,
    stop_server,
    storm,
)
from bench.flashsale import insert_buyers, mint_tokens

KEYWORD = "WIN"


class ViewerSock(BuyerSock):
    """A viewer's socket: its own chat line, its entry's answer, the draw, a prize."""

    answers = (b'{"type":"giveaway_entered"', b'{"type":"error"')

    def __init__(self, request: bytes, uid: int = 0) -> None:
        super().__init__(request, uid)
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[tuple[int, dict[str, Any]]] = loop.create_future()
        self.prize: asyncio.Future[tuple[int, dict[str, Any]]] = loop.create_future()

    def message(self, payload: bytes, now: int) -> None:
        super().message(payload, now)
        if payload.startswith(b'{"type":"giveaway_ended"') and not self.ended.done():
            self.ended.set_result((now, json.loads(payload)))
        elif payload.startswith(b'{"type":"order"') and not self.prize.done():
            self.prize.set_result((now, json.loads(payload)))  # only the winner's socket


def set_up(port: int, db_url: str, n: int, duration_s: int) -> dict[str, Any]:
    creator = kit.rest(port, "POST", "/api/auth/register",
                       {"username": "gw_creator", "password": "bench-password-1",
                        "role": "creator"})["token"]  # fmt: skip
    product = kit.rest(port, "POST", "/api/products",
                       {"title": "Signed vinyl", "price_cents": 4_000, "stock": 1},
                       creator)["product"]  # fmt: skip
    live = kit.rest(port, "POST", "/api/lives", {"title": "Giveaway show"}, creator)["live"]
    kit.rest(port, "POST", f"/api/lives/{live['id']}/start", None, creator)
    giveaway = kit.rest(port, "POST", f"/api/lives/{live['id']}/giveaways",
                        {"product_id": product["id"], "duration_s": duration_s,
                         "keyword": KEYWORD}, creator)["giveaway"]  # fmt: skip
    uids = asyncio.run(insert_buyers(db_url, n, prefix="gwv"))
    return {"creator": creator, "product_id": product["id"], "live_id": live["id"],
            "giveaway_id": giveaway["id"], "uids": uids, "tokens": mint_tokens(uids)}  # fmt: skip


async def end_now(db_url: str, giveaway_id: int) -> tuple[int, float]:
    """Set the giveaway's ``ends_at`` to now in the database: (that time in ns since the
    epoch, ms the UPDATE took to commit). The server's clock draws at its next pass."""
    from sqlalchemy import update

    from app.db import Database
    from live.models import Giveaway

    db = Database.from_url(db_url)
    table = Giveaway.__table__  # type: ignore[attr-defined]
    try:
        async with db.write_engine.connect() as conn:  # connected first: then the clock
            ends_ns = time.time_ns()
            ends_at = datetime.fromtimestamp(ends_ns / 1e9, UTC)
            async with conn.begin():
                done = await conn.execute(
                    update(table).where(table.c.id == giveaway_id).values(ends_at=ends_at)
                )
            if done.rowcount != 1:
                raise RuntimeError(f"giveaway {giveaway_id}: {done.rowcount} rows updated")
            return ends_ns, round((time.time_ns() - ends_ns) / 1e6, 2)
    finally:
        await db.dispose()


def states(socks: list[ViewerSock]) -> dict[str, Any]:
    """Where the sockets are, for a phase that did not finish: how many have their own
    chat line, an answer (by frame type or error code), or were closed."""
    answers: dict[str, int] = {}
    for x in socks:
        if x.answer.done() and not x.answer.cancelled():
            frame = x.answer.result()[1]
            kind = frame["data"].get("code", "?") if frame["type"] == "error" else frame["type"]
            answers[kind] = answers.get(kind, 0) + 1
    own = sum(x.own_chat.done() and not x.own_chat.cancelled() for x in socks)
    return {"sockets": len(socks), "own_chat": own, "answers": answers,
            "closed": sum(x.lost.done() for x in socks),
            "close_codes": sorted({x.close_code for x in socks if x.close_code})}  # fmt: skip


async def draw(db_url: str, giveaway_id: int, socks: list[ViewerSock],
               server_pid: int) -> dict[str, Any]:  # fmt: skip
    """End the giveaway now; ``ends_at`` -> ``giveaway_ended`` on every socket, and on the
    winner's socket -> their prize ``order`` frame (None if it did not come)."""
    cpu0 = cpu_mark(server_pid)
    ends_ns, update_ms = await end_now(db_url, giveaway_id)
    try:
        ended = await asyncio.wait_for(asyncio.gather(*(x.ended for x in socks)), 120)
    except TimeoutError:
        got = sum(x.ended.done() and not x.ended.cancelled() for x in socks)
        raise RuntimeError(f"giveaway_ended on {got} sockets: {states(socks)}") from None
    cpu1 = cpu_mark(server_pid)
    frames = {json.dumps(f["data"], sort_keys=True) for _t, f in ended}
    first = ended[0][1]["data"]
    winner = (first.get("winner") or {}).get("id")
    prize: dict[str, Any] = {"ms": None}
    by_uid = {x.uid: x for x in socks}
    with contextlib.suppress(TimeoutError):
        if winner in by_uid:
            t, order = await asyncio.wait_for(by_uid[winner].prize, 30)
            placed = order["data"]["order"]
            prize = {k: placed[k] for k in ("id", "source", "total_cents", "status")}
            prize["ms"] = round((t - ends_ns) / 1e6, 2)
    return {"update_commit_ms": update_ms,
            "ended_ms": kit.summary([(t - ends_ns) / 1e6 for t, _f in ended]),
            "frames_distinct": len(frames), "frame": first, "prize": prize,
            "cpu": cpu_spent(cpu0, cpu1)}  # fmt: skip


async def reference(socks: list[ViewerSock], out: dict[str, Any]) -> None:
    """The chat reference, and what it cost (the 2 s pause after it included). A line
    refused (``busy``: no pooled database connection within its wait) is counted in
    ``reference_refused``; its socket still enters, with its answer slot cleared."""
    cpu0 = cpu_mark(out["server_pid"])
    try:
        out["reference_chat_ms"], out["reference_refused"] = await chat_reference(socks)
    except TimeoutError:
        raise RuntimeError(f"chat reference unfinished: {states(socks)}") from None
    out["reference_cpu"] = cpu_spent(cpu0, cpu_mark(out["server_pid"]))
    for x in socks:
        if x.answer.done():
            x.answer = asyncio.get_running_loop().create_future()


async def measure(port: int, db_url: str, s: dict[str, Any], out: dict[str, Any]) -> None:
    await save_profiles(port, s["tokens"])
    socks = await connect(port, s, ViewerSock)
    try:
        await reference(socks, out)
        enter = {"type": "enter", "giveaway_id": s["giveaway_id"]}
        try:
            done = await storm(socks, enter, out["server_pid"])
        except TimeoutError:
            raise RuntimeError(f"entries unanswered: {states(socks)}") from None
        out["draw"] = await draw(db_url, s["giveaway_id"], socks, out["server_pid"])
    finally:
        for sock in socks:
            sock.close()
    out["entries"] = len(socks)
    out["entries_per_s"] = done["per_s"]
    out["answer_ms"] = done["answer_ms"]
    out["cpu"] = done["cpu"]
    out["outcomes"] = done["answers"]


def winner_index(seed: str, entrant_ids: list[int]) -> int:
    """The contract's draw (docs/api.md, "Fairness"), computed here, not by the server."""
    ids = ",".join(str(i) for i in entrant_ids)
    return int(hashlib.sha256(f"{seed}:{ids}".encode()).hexdigest(), 16) % len(entrant_ids)


def clock_wait_ms(g: dict[str, Any]) -> float | None:
    """``ends_at`` -> ``drawn_at`` (the clock's pass that drew it): the part of ``ends_at``
    -> ``giveaway_ended`` spent waiting for the server's next look."""
    if not g["drawn_at"]:
        return None
    waited = datetime.fromisoformat(g["drawn_at"]) - datetime.fromisoformat(g["ends_at"])
    return round(waited.total_seconds() * 1000, 2)


def settled(port: int, giveaway_id: int, limit_s: float = 60) -> dict[str, Any]:
    """``GET /api/giveaways/{id}`` once the prize is dealt with (its order, or why not)."""
    deadline = time.monotonic() + limit_s
    while True:
        body: dict[str, Any] = kit.rest(port, "GET", f"/api/giveaways/{giveaway_id}")
        g = body["giveaway"]
        if g["status"] == "drawn" and (g["order_id"] or g["unclaimed"]):
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"giveaway {giveaway_id} not settled after {limit_s} s: {g}")
        time.sleep(0.2)


async def giveaway_orders(db_url: str) -> int:
    from sqlalchemy import text

    from app.db import Database

    db = Database.from_url(db_url)
    try:
        async with db.engine.connect() as conn:
            found = await conn.execute(text("SELECT count(*) FROM orders WHERE source = :s"),
                                       {"s": "giveaway"})  # fmt: skip
            return int(found.scalar_one())
    finally:
        await db.dispose()


def check(port: int, db_url: str, s: dict[str, Any], out: dict[str, Any]) -> None:
    frames = out.pop("outcomes")
    kinds = [f["type"] for f in frames]
    body = settled(port, s["giveaway_id"])
    g, people = body["giveaway"], body["entrants"] or []
    ids = [p["id"] for p in people]
    recomputed = people[winner_index(g["seed"], ids)] if ids else None
    token = s["tokens"][s["uids"].index(g["winner"]["id"])] if g["winner"] else None
    mine = kit.rest(port, "GET", "/api/orders", None, token)["orders"] if token else []
    prizes = [o for o in mine if o["source"] == "giveaway"]
    ended = out["draw"]["frame"]
    product = kit.rest(port, "GET", f"/api/products/{s['product_id']}")["product"]
    out["giveaway"] = {k: g[k] for k in ("id", "status", "entries", "winner", "order_id",
                                         "unclaimed", "ends_at", "drawn_at")}  # fmt: skip
    out["draw"]["clock_wait_ms"] = clock_wait_ms(g)
    out["checks"] = {
        "entered": kinds.count("giveaway_entered"),
        "errors": [f["data"] for f in frames if f["type"] == "error"][:5],
        "largest_entries_answered": max((f["data"]["entries"] for f in frames
                                         if f["type"] == "giveaway_entered"), default=0),
        "entries": g["entries"], "entrants": len(people),
        "entrants_are_the_viewers": sorted(ids) == sorted(s["uids"]),
        "seed_hash_matches": hashlib.sha256(g["seed"].encode()).hexdigest() == g["seed_hash"],
        "winner_recomputed": recomputed == g["winner"],
        "frame_matches_giveaway": ended == {"giveaway_id": g["id"], "winner": g["winner"],
                                            "seed": g["seed"], "seed_hash": g["seed_hash"],
                                            "entries": g["entries"]},
        "same_frame_on_every_socket": out["draw"]["frames_distinct"] == 1,
        "winner_prize_orders": len(prizes),
        "prize_total_cents": [o["total_cents"] for o in prizes],
        "prize_is_the_giveaways_order": [o["id"] for o in prizes] == [g["order_id"]],
        "giveaway_orders_in_db": asyncio.run(giveaway_orders(db_url)),
        "stock": product["stock"],
    }  # fmt: skip


def ok(r: dict[str, Any]) -> bool:
    c, n = r.get("checks", {}), r.get("entries", -1)
    return bool(c) and c["entered"] == n and not c["errors"] \
        and c["largest_entries_answered"] == n and c["entries"] == n and c["entrants"] == n \
        and c["entrants_are_the_viewers"] and c["seed_hash_matches"] \
        and c["winner_recomputed"] and c["frame_matches_giveaway"] \
        and c["same_frame_on_every_socket"] and c["winner_prize_orders"] == 1 \
        and c["prize_total_cents"] == [0] and c["prize_is_the_giveaways_order"] \
        and c["giveaway_orders_in_db"] == 1 and c["stock"] == 0 \
        and r["tracebacks"] == 0  # fmt: skip


def run(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"giveaways-{variant}-"))
    out: dict[str, Any] = {"variant": variant, "loadavg_1m": kit.loadavg()}
    log(f"== {variant}, {args.viewers:,} viewers (workdir {workdir})")
    with kit.children() as kids:
        port, db_url, server = start_server(variant, args, workdir, kids)
        out["server_pid"] = server.pid
        s = set_up(port, db_url, args.viewers, args.duration)
        try:
            uvloop.run(measure(port, db_url, s, out))
            check(port, db_url, s, out)
        finally:
            stop_server(server, out)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    out["ok"] = ok(out)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    head = ("| variant | entries | entries/s | enter → answer p50 / p99 ms | chat ref p50 / p99 ms "
            "| draw → giveaway_ended p50 / p99 ms | errors | server CPU s | correct |")  # fmt: skip
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['variant']} | failed: {r['error']} |")
            continue
        a, ref, d, c = r["answer_ms"], r["reference_chat_ms"], r["draw"]["ended_ms"], r["checks"]
        refused = ", ".join(f"{n} {code}" for code, n in r["reference_refused"].items())
        ref_cell = f"{ref['p50']} / {ref['p99']}" + (f" ({refused} refused)" if refused else "")
        rows.append(f"| {r['variant']} | {r['entries']:,} | {r['entries_per_s']:,} | "
                    f"{a['p50']} / {a['p99']} | {ref_cell} | "
                    f"{d['p50']} / {d['p99']} | {len(c['errors'])} | {r['cpu']['server_s']} | "
                    f"{'yes' if r['ok'] else 'NO'} |")  # fmt: skip
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--viewers", type=int, default=2000)
    add("--duration", type=int, default=600, help="the giveaway's duration_s (10-3600): "
        "it must outlast the set-up and the storm")  # fmt: skip
    add_server_flags(p, "livecart_bench_giveaways", "giveaways.json")
    args = p.parse_args(argv)
    args.cprofile = False  # start_server's option, not offered here
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_all(args, lambda v: run(v, args), markdown)


if __name__ == "__main__":
    sys.exit(main())
