"""Comment-to-buy benchmark: N buyers type ``SOLD`` in the same second during a deal.

    python -m bench.comments [--buyers 1000] [--units 100] [--variants pg-redis sqlite]
                             [--repeat 1] [--pg URL --redis URL --scratch-db NAME]
                             [--out FILE]

Per variant, a fresh server (``bench.auction.start_server``: ``pg-redis`` is
``livecart serve --workers 2`` on PostgreSQL and Redis, ``sqlite`` is ``livecart
serve`` on its embedded defaults). Set-up over the API: a creator, a product with
``--units`` in stock, a running live, the product pinned with a deal of ``--units``
units (one per buyer) and the claim keyword ``SOLD``; the N buyers are inserted in bulk
(``bench.flashsale``) and each saves an address and ``tok_visa`` over the API. The load
generator (this process, ``bench.auction_load`` sockets) connects the N buyers' sockets.

Reference, same run, same sockets: every buyer sends one ordinary chat line at once;
its latency is send -> the sender's own ``chat`` frame (the chat path without a claim).

The storm: every buyer sends ``{"type": "chat", "text": "SOLD"}`` at once. Latency of
a claim: send -> the claimant's answer (its ``order`` frame, or ``waitlisted``, or an
``error``); claims per second: N over first send -> last answer.

Checks: exactly ``--units`` orders (``order`` answers, and the product's ``sold``),
stock 0, every other buyer waitlisted with a distinct place 1..N-units and the owner's
waitlist in that order, no ``error`` answer, no traceback in the server log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from bench import auction_load as load
from bench import benchkit as kit
from bench.auction import save_profiles, start_server
from bench.benchkit import Child, log
from bench.flashsale import insert_buyers, mint_tokens

VARIANTS = ["pg-redis", "sqlite"]
ANSWERS = (b'{"type":"order"', b'{"type":"waitlisted"', b'{"type":"error"')


class BuyerSock(load.Sock):
    """A buyer's socket: when its own chat line and its claim's answer arrived.
    ``answers``: the frames that answer what it sent (``bench.giveaways`` has its own)."""

    answers: tuple[bytes, ...] = ANSWERS

    def __init__(self, request: bytes, uid: int = 0) -> None:
        super().__init__(request)
        self.uid = uid
        self.own_chat: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.answer: asyncio.Future[tuple[int, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.sent_ns = 0

    def message(self, payload: bytes, now: int) -> None:
        super().message(payload, now)
        if payload.startswith(self.answers) and not self.answer.done():
            self.answer.set_result((now, json.loads(payload)))
        elif (
            payload.startswith(b'{"type":"chat"')
            and not self.own_chat.done()
            and json.loads(payload)["data"]["user"]["id"] == self.uid
        ):
            self.own_chat.set_result(now)

    def reset_chat(self) -> None:
        self.own_chat = asyncio.get_running_loop().create_future()


def set_up(port: int, db_url: str, n: int, units: int) -> dict[str, Any]:
    creator = kit.rest(port, "POST", "/api/auth/register",
                       {"username": "cm_creator", "password": "bench-password-1",
                        "role": "creator"})["token"]  # fmt: skip
    product = kit.rest(port, "POST", "/api/products",
                       {"title": "Lamp", "price_cents": 5_000, "stock": units},
                       creator)["product"]  # fmt: skip
    live = kit.rest(port, "POST", "/api/lives", {"title": "Comment show"}, creator)["live"]
    kit.rest(port, "POST", f"/api/lives/{live['id']}/start", None, creator)
    deal = {"price_cents": 3_000, "quantity": units, "per_buyer_limit": 1, "duration_s": 3600}
    kit.rest(port, "POST", f"/api/lives/{live['id']}/pin",
             {"product_id": product["id"], "deal": deal, "claim_keyword": "SOLD"},
             creator)  # fmt: skip
    uids = asyncio.run(insert_buyers(db_url, n, prefix="cmb"))
    return {"creator": creator, "product_id": product["id"], "live_id": live["id"],
            "uids": uids, "tokens": mint_tokens(uids)}  # fmt: skip


S = TypeVar("S", bound=BuyerSock)


async def connect(port: int, s: dict[str, Any], proto: type[S]) -> list[S]:
    """The buyers' sockets (``proto``) on the live, in ``s["uids"]`` order."""
    path = f"/ws/lives/{s['live_id']}"
    socks: list[S] = []
    for first in range(0, len(s["tokens"]), 500):  # the joins are not what is measured
        mine = slice(first, first + 500)
        batch = list(zip(s["uids"][mine], s["tokens"][mine], strict=True))
        socks += await asyncio.gather(*(
            load.connect(port, f"{path}?token={t}", proto, 60, uid=u) for u, t in batch
        ))  # fmt: skip
    return socks


def send_all(socks: Sequence[BuyerSock], frame: dict[str, Any]) -> None:
    """Every buyer's ``frame`` in the same loop turn: the worst arrival."""
    for sock in socks:
        sock.sent_ns = time.time_ns()
        sock.send(frame)


async def chat_reference(socks: Sequence[BuyerSock]) -> tuple[dict[str, Any], dict[str, int]]:
    """Every buyer sends one ordinary chat line at once: send -> the sender's own ``chat``
    frame (ms), over the lines that came back; and the lines refused instead (an answer,
    an ``error`` frame, that came first), counted by code. Then a pause of 2 s: the chat
    limits' tokens are back, as in a show."""

    async def own_line(x: BuyerSock) -> int | None:
        await asyncio.wait((x.own_chat, x.answer), return_when=asyncio.FIRST_COMPLETED)
        return x.own_chat.result() if x.own_chat.done() else None

    send_all(socks, {"type": "chat", "text": "hello from the floor"})
    chat_at = await asyncio.wait_for(asyncio.gather(*(own_line(x) for x in socks)), 120)
    pairs = zip(socks, chat_at, strict=True)
    took = kit.summary((t - x.sent_ns) / 1e6 for x, t in pairs if t is not None)
    refused: dict[str, int] = {}
    for x, t in zip(socks, chat_at, strict=True):
        if t is None:
            frame = x.answer.result()[1]
            code = str(frame.get("data", {}).get("code", frame["type"]))
            refused[code] = refused.get(code, 0) + 1
    await asyncio.sleep(2.0)
    return took, refused


def cpu_mark(server_pid: int) -> tuple[float, float, tuple[int, int]]:
    """(the server group's CPU s, this process's CPU s, the machine's ticks) now."""
    return kit.group_cpu_seconds(server_pid), time.process_time(), kit.machine_ticks()


def cpu_spent(
    before: tuple[float, float, tuple[int, int]], after: tuple[float, float, tuple[int, int]]
) -> dict[str, Any]:
    return {"server_s": round(after[0] - before[0], 2), "client_s": round(after[1] - before[1], 2),
            "machine_busy_pct": kit.busy_percent(before[2], after[2])}  # fmt: skip


async def storm(socks: Sequence[BuyerSock], frame: dict[str, Any], server_pid: int,
                limit_s: float = 300) -> dict[str, Any]:  # fmt: skip
    """Every buyer sends ``frame`` in the same loop turn; each waits for its answer.
    ``per_s``: answers over first send -> last answer; ``answer_ms``: send -> answer;
    ``cpu``: what the storm cost; ``answers``: the answering frames, in socket order."""
    cpu0 = cpu_mark(server_pid)
    first = time.time_ns()
    send_all(socks, frame)
    answers = await asyncio.wait_for(asyncio.gather(*(x.answer for x in socks)), limit_s)
    cpu1 = cpu_mark(server_pid)
    last = max(t for t, _frame in answers)
    waits = [(t - x.sent_ns) / 1e6 for x, (t, _f) in zip(socks, answers, strict=True)]
    return {"per_s": round(len(socks) / ((last - first) / 1e9), 1),
            "answer_ms": kit.summary(waits), "cpu": cpu_spent(cpu0, cpu1),
            "answers": [f for _t, f in answers]}  # fmt: skip


async def measure(port: int, s: dict[str, Any], out: dict[str, Any]) -> None:
    await save_profiles(port, s["tokens"])
    socks = await connect(port, s, BuyerSock)
    try:
        out["reference_chat_ms"], refused = await chat_reference(socks)
        if refused:  # their answers are taken: the claims could not be told apart
            raise RuntimeError(f"reference chat lines refused: {refused}")
        done = await storm(socks, {"type": "chat", "text": "SOLD"}, out["server_pid"])
    finally:
        for sock in socks:
            sock.close()
    out["claims"] = len(socks)
    out["claims_per_s"] = done["per_s"]
    out["answer_ms"] = done["answer_ms"]
    out["cpu"] = done["cpu"]
    out["outcomes"] = done["answers"]


def check(port: int, s: dict[str, Any], units: int, out: dict[str, Any]) -> None:
    frames = out.pop("outcomes")
    kinds = [f["type"] for f in frames]
    places = sorted(f["data"]["position"] for f in frames if f["type"] == "waitlisted")
    product = kit.rest(port, "GET", f"/api/products/{s['product_id']}")["product"]
    listed = kit.rest(port, "GET", f"/api/products/{s['product_id']}/waitlist", None,
                      s["creator"])["waitlist"]  # fmt: skip
    by_place = {f["data"]["position"]: i for i, f in enumerate(frames) if f["type"] == "waitlisted"}
    waiting = len(frames) - units
    out["checks"] = {
        "orders": kinds.count("order"), "waitlisted": kinds.count("waitlisted"),
        "errors": [f["data"] for f in frames if f["type"] == "error"][:5],
        "stock": product["stock"], "sold": units - product["stock"],
        "places_distinct_1_to_n": places == list(range(1, waiting + 1)),
        "list_in_places_order": [e["user"]["id"] for e in listed]
        == [s["uids"][by_place[p]] for p in range(1, waiting + 1)],
    }  # fmt: skip


def ok(r: dict[str, Any], units: int) -> bool:
    c = r.get("checks", {})
    return bool(c) and c["orders"] == units and c["sold"] == units and c["stock"] == 0 \
        and not c["errors"] and c["places_distinct_1_to_n"] and c["list_in_places_order"] \
        and r["tracebacks"] == 0  # fmt: skip


def stop_server(server: Child, out: dict[str, Any]) -> None:
    """Stop the server; its log's tracebacks in ``out`` (the first one kept)."""
    server.stop()
    text = server.log_text()
    out["tracebacks"] = text.count("Traceback")
    if out["tracebacks"]:
        out["first_traceback"] = text[text.index("Traceback") - 200 :][:4000]


def run(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"comments-{variant}-"))
    out: dict[str, Any] = {"variant": variant, "loadavg_1m": kit.loadavg()}
    log(f"== {variant}, {args.buyers:,} buyers, {args.units} units (workdir {workdir})")
    with kit.children() as kids:
        port, db_url, server = start_server(variant, args, workdir, kids)
        out["server_pid"] = server.pid
        s = set_up(port, db_url, args.buyers, args.units)
        try:
            uvloop.run(measure(port, s, out))
            check(port, s, args.units, out)
        finally:
            stop_server(server, out)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    out["ok"] = ok(out, args.units)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    head = ("| variant | claims | claims/s | comment → answer p50 / p99 ms | chat ref p50 / p99 ms "
            "| orders | waitlisted | errors | server CPU s | correct |")  # fmt: skip
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['variant']} | failed: {r['error']} |")
            continue
        a, ref, c = r["answer_ms"], r["reference_chat_ms"], r["checks"]
        rows.append(f"| {r['variant']} | {r['claims']:,} | {r['claims_per_s']:,} | "
                    f"{a['p50']} / {a['p99']} | {ref['p50']} / {ref['p99']} | {c['orders']} | "
                    f"{c['waitlisted']} | {len(c['errors'])} | {r['cpu']['server_s']} | "
                    f"{'yes' if r['ok'] else 'NO'} |")  # fmt: skip
    return "\n".join(rows)


def add_server_flags(p: argparse.ArgumentParser, scratch_db: str, out: str) -> None:
    """The flags of a run over the variants: which, how often, the services, the output."""
    add = p.add_argument
    add("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    add("--repeat", type=int, default=1)
    add("--web-workers", type=int, default=2, help="pg-redis: livecart serve --workers")
    add("--pg", default=kit.DEFAULT_PG, help="PostgreSQL server URL (no database)")
    add("--redis", default=kit.DEFAULT_REDIS, help="Redis URL (its database is flushed)")
    add("--scratch-db", default=scratch_db, help="recreated for each run")
    add("--keep", action="store_true", help="keep the temp dirs (server logs)")
    add("--out", type=Path, default=kit.RESULTS / out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--buyers", type=int, default=1000)
    add("--units", type=int, default=100)
    add_server_flags(p, "livecart_bench_comments", "comments.json")
    args = p.parse_args(argv)
    args.cprofile = False  # start_server's option, not offered here
    return args


def run_all(
    args: argparse.Namespace,
    run: Callable[[str], dict[str, Any]],
    table: Callable[[list[dict[str, Any]]], str],
) -> int:
    """``run`` each of ``args.variants`` ``args.repeat`` times; the JSON to ``args.out``,
    the table printed; 0 if every run was correct (its ``ok``)."""
    kit.raise_fd_limit()
    info = {"machine": kit.machine(), "params": {k: str(v) for k, v in vars(args).items()}}
    jobs = [v for v in args.variants for _ in range(args.repeat)]
    try:
        results = kit.run_variants(jobs, run, 600)
    finally:
        if "pg-redis" in args.variants:
            kit.clean_up(args.pg, [args.scratch_db], args.redis)
    kit.write_json(args.out, {**info, "results": results})
    print(table(results))
    print(f"\nJSON: {args.out}")
    return 0 if all(r.get("ok") for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_all(args, lambda v: run(v, args), markdown)


if __name__ == "__main__":
    sys.exit(main())
