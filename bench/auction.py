"""Auction benchmark: W watchers, N bidders bidding in an auction's last seconds.

    python -m bench.auction [--watchers 1000 10000] [--bidders 1000] [--bids 3]
                            [--variants pg-redis sqlite] [--rest] [--duration 8]
                            [--pg URL --redis URL --scratch-db NAME] [--out FILE]

Per (variant, W), a fresh server: ``pg-redis`` is ``livecart serve --workers 2`` on
PostgreSQL (``--scratch-db``, recreated) and Redis (``--redis``, flushed); ``sqlite``
is ``livecart serve`` on its embedded defaults in a temp dir. Set-up over the API (a
creator, a product, a running live; the N bidders' accounts are inserted in bulk as in
``bench.flashsale``, then each saves an address and ``tok_visa`` over the API). The
load generator is this process (``bench.auction_load``): the bidders' sockets, then the
W anonymous watchers all at once; ``--sample`` of them (evenly spread over the join
order) keep what they receive.

Reference, same run, same sockets: each bidder sends one ``chat`` frame at once. A chat
takes the same path as a bid frame (a signed-in frame, an event with a seq in the live's
log, fan-out to the same W watchers) without the auction's locks, ledger and batches, so
bid latency minus chat latency is what the auction adds.

Then an auction of ``--duration`` s starts; in its last ``--window`` s every bidder bids
``--bids`` times as fast as its answers come (a frame then a ``ping`` whose ``pong``
marks it answered; ``--rest``: ``POST /api/auctions/{id}/bids``), each at the price the
watchers last saw plus 0-2 increments, with a maximum 0-6 increments above. Latency of a
bid: from its send to a sampled watcher's receipt of the ``bid`` frame reporting it
(matched by the frame's ``bids`` counter against the auction's history): to the first
sampled watcher, and to every sampled watcher (the fan-out's tail).

Checks: the history replayed through ``live.auction_rules.Ledger`` with the maximums
sent gives every recorded price and leader, the final price, winner and ``ends_at``;
no bid accepted at or after the ``ends_at`` in force; the ``bid`` frames' seqs
consecutive and their counters 1..bids on every sampled watcher; exactly one
``auction_ended`` (each sampled watcher, and the replay log); no traceback in the logs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import auction_load as load
from bench import benchkit as kit
from bench.auction_checks import frame_checks, latency, rates, replay
from bench.benchkit import Child, log
from bench.flashsale import SHIPPING, insert_buyers, mint_tokens

VARIANTS = ["pg-redis", "sqlite"]
START_CENTS = 1_000


def start_server(variant: str, args: argparse.Namespace, workdir: Path,
                 kids: list[Child]) -> tuple[int, str, Child]:  # fmt: skip
    """The server, ready: (port, database URL for the bulk insert, its child)."""
    port, env = kit.free_port(), kit.base_env(LIVECART_ENV="production")
    env.update(kit.ONE_LOAD_ADDRESS)
    workers = 1 if variant == "sqlite" or args.cprofile else args.web_workers
    db_url = f"sqlite+aiosqlite:///{workdir / 'livecart.db'}"
    if variant == "pg-redis":
        asyncio.run(kit.reset_database(args.pg, args.scratch_db))
        kit.flush_redis(args.redis)
        env.update(DATABASE_URL=kit.pg_url(args.pg, args.scratch_db), REDIS_URL=args.redis)
        db_url = kit.pg_url(args.pg, args.scratch_db, "postgresql+asyncpg")
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    cmd = [kit.livecart_exe(), *serve]
    if args.cprofile:  # one process, profiled; its stats are written when it stops
        prof = str(workdir / "server.prof")
        cmd = [sys.executable, "-m", "cProfile", "-o", prof, "-m", "app.cli", *serve]
    server = Child("serve", cmd, env=env, cwd=workdir, logfile=workdir / "serve.log")
    kids.append(server)
    kit.wait_ready(port, server, started=workers)
    return port, db_url, server


def set_up(port: int, db_url: str, n: int) -> dict[str, Any]:
    creator = kit.rest(port, "POST", "/api/auth/register",
                       {"username": "au_creator", "password": "bench-password-1",
                        "role": "creator"})["token"]  # fmt: skip
    product = kit.rest(port, "POST", "/api/products",
                       {"title": "Signed print", "price_cents": 5_000, "stock": 5},
                       creator)["product"]  # fmt: skip
    live = kit.rest(port, "POST", "/api/lives", {"title": "Auction show"}, creator)["live"]
    kit.rest(port, "POST", f"/api/lives/{live['id']}/start", None, creator)
    uids = asyncio.run(insert_buyers(db_url, n, prefix="aub"))
    return {"creator": creator, "product_id": product["id"], "live_id": live["id"],
            "uids": uids, "tokens": mint_tokens(uids)}  # fmt: skip


async def save_profiles(port: int, tokens: list[str], lanes: int = 50) -> None:
    """Each bidder saves an address and a card over the API (``lanes`` connections)."""

    async def lane(mine: list[str]) -> None:
        http = load.Http(port)
        for token in mine:
            for path, body in (("/api/me/address", SHIPPING),
                               ("/api/me/payment-method", {"token": "tok_visa"})):  # fmt: skip
                status, answer = await http.call("PUT", path, body, token)
                if status != 200:
                    raise RuntimeError(f"PUT {path}: {status} {answer}")
        http.close()

    await asyncio.gather(*(lane(tokens[i::lanes]) for i in range(lanes)))


async def connect_all(port: int, s: dict[str, Any], w: int, args: argparse.Namespace,
                      out: dict[str, Any]) -> tuple[list[Any], list[Any]]:  # fmt: skip
    path = f"/ws/lives/{s['live_id']}"
    bidders, failed, secs = await load.storm(
        port, [f"{path}?token={t}" for t in s["tokens"]], load.BidderSock, set(), 60
    )
    if failed:
        raise RuntimeError(f"bidder sockets failed: {failed}")
    sample = set(range(0, w, max(1, w // args.sample)))
    watchers, failed, secs = await load.storm(port, [path] * w, load.Sock, sample, 90)
    out["watchers"] = {"joined": len(watchers), "failed": failed, "storm_s": secs}
    log(f"  {len(bidders)} bidder sockets; {len(watchers)}/{w} watchers in {secs} s {failed}")
    return bidders, [x for x in watchers if x.keep]


async def reference(bidders: list[Any], sampled: list[Any], probes: int) -> dict[str, Any]:
    """Pings as the bids will come (the frame path's floor), then ``probes`` chat frames one
    at a time, each until every sampled watcher has it (one event's fan-out floor)."""
    pings = await load.ping_round(bidders, 3)
    sent: dict[str, int] = {}
    for i in range(probes):
        sent_text = f"ref-{i}"
        sent[sent_text] = time.time_ns()
        bidders[i % len(bidders)].send({"type": "chat", "text": sent_text})
        for _ in range(1000):  # at most 10 s: until every sampled watcher has it
            if all(any(sent_text.encode() in p for _, p in x.frames[-20:]) for x in sampled):
                break
            await asyncio.sleep(0.01)
    first: dict[str, int] = {}
    every = []
    for watcher in sampled:
        for t, frame in load.decoded(watcher):
            text = frame["data"].get("text") if frame["type"] == "chat" else None
            if text in sent:
                first[text] = min(first.get(text, t), t)
                every.append((t - sent[text]) / 1e6)
    return {"pings": pings, "chats": len(sent), "delivered": len(first),
            "first_ms": kit.summary((first[k] - sent[k]) / 1e6 for k in first),
            "every_sampled_ms": kit.summary(every)}  # fmt: skip


async def bidding(port: int, s: dict[str, Any], bidders: list[Any], sampled: list[Any],
                  args: argparse.Namespace, out: dict[str, Any]) -> list[load.Sent]:  # fmt: skip
    http = load.Http(port)
    status, started = await http.call(
        "POST", f"/api/lives/{s['live_id']}/auctions",
        {"product_id": s["product_id"], "start_cents": START_CENTS, "duration_s": args.duration,
         "extend_s": args.extend, "sudden_death": args.sudden_death}, s["creator"])  # fmt: skip
    if status != 201:
        raise RuntimeError(f"auction not started: {status} {started}")
    auction = out["auction_started"] = started["auction"]
    market = load.Market(START_CENTS)
    load.follow(sampled[0], market)
    ends = datetime.fromisoformat(auction["ends_at"]).timestamp()
    await asyncio.sleep(max(0.0, ends - args.window - time.time()))
    cpu0 = (kit.group_cpu_seconds(out["server_pid"]), time.process_time(), kit.machine_ticks(),
            kit.cpu_by_command())  # fmt: skip
    rng = random.Random(args.seed)
    https = [load.Http(port) if args.rest else None for _ in bidders]
    logs = await asyncio.gather(*(
        load.bidder(i, b, https[i], s["tokens"][i], auction["id"], market, args.bids,
                    random.Random(rng.random())) for i, b in enumerate(bidders)))  # fmt: skip
    cpu1 = (kit.group_cpu_seconds(out["server_pid"]), time.process_time(), kit.machine_ticks(),
            kit.cpu_by_command())  # fmt: skip
    out["cpu"] = {"server_s": round(cpu1[0] - cpu0[0], 2), "client_s": round(cpu1[1] - cpu0[1], 2),
                  "machine_busy_pct": kit.busy_percent(cpu0[2], cpu1[2]),
                  "machine_busy_s": round(kit.busy_seconds(cpu0[2], cpu1[2]), 2),
                  **{f"{k}_s": round(cpu1[3][k] - cpu0[3][k], 2) for k in cpu0[3]}}  # fmt: skip
    await asyncio.wait_for(market.ended.wait(), args.duration + args.extend * args.bids + 120)
    for h in [*https, http]:
        if h is not None:
            h.close()
    return [sent for one in logs for sent in one]


async def read_back(port: int, s: dict[str, Any], auction_id: int) -> dict[str, Any]:
    http, events, after = load.Http(port), [], 0
    _, body = await http.call("GET", f"/api/auctions/{auction_id}", None, s["creator"])
    while True:
        _, page = await http.call("GET", f"/api/lives/{s['live_id']}/events?after={after}"
                                  "&limit=500", None, s["creator"])  # fmt: skip
        if not page["events"]:
            break
        events += page["events"]
        after = page["events"][-1]["seq"]
    http.close()
    return {**body, "events": events}


async def measure(port: int, s: dict[str, Any], w: int, args: argparse.Namespace,
                  out: dict[str, Any]) -> None:  # fmt: skip
    await save_profiles(port, s["tokens"])
    bidders, sampled = await connect_all(port, s, w, args, out)
    try:
        # The load generator's own garbage collections (full ones of 60-150 ms each with
        # 11,000 sockets, seen with gc.callbacks) would be counted as server latency: its
        # sockets are frozen out of the collector's way and it pauses while measuring.
        gc.collect()
        gc.freeze()
        gc.disable()
        out["reference"] = await reference(bidders, sampled, args.probes)
        sent = await bidding(port, s, bidders, sampled, args, out)
        await asyncio.sleep(0.5)  # the last frames reach the other sampled watchers
        gc.enable()
        done = await read_back(port, s, out["auction_started"]["id"])
    finally:
        gc.enable()
        gc.unfreeze()
        for sock in [*bidders, *sampled]:
            sock.close()
    by_key = {(s["uids"][x.bidder], x.amount): x for x in sent}
    out["bids"] = rates(sent)
    out["bid_log"] = [[x.bidder, x.amount, x.max_cents, x.sent_ns, x.answered_ns, x.outcome]
                      for x in sent]  # fmt: skip
    out["history_at"] = [h["at"] for h in done["history"]]
    out["auction"] = {k: done["auction"][k] for k in ("status", "price_cents", "bids", "ends_at",
                                                      "winner", "order_id")}  # fmt: skip
    out["replay"] = replay(done, by_key, out["auction_started"])
    out["frames"], frames = frame_checks(sampled, len(done["history"]))
    ended = sum(e["type"] == "auction_ended" for e in done["events"])
    out["frames"]["auction_ended_in_log"] = ended
    accepted = out["bids"]["outcomes"].get("accepted", 0)
    out["replay"]["accepted_answers_match_history"] = accepted == len(done["history"])
    uid_index = {uid: i for i, uid in enumerate(s["uids"])}
    out["latency"] = latency(frames, done, by_key, uid_index)


def run(variant: str, w: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"auction-{variant}-"))
    out: dict[str, Any] = {"variant": variant, "watchers_asked": w, "loadavg_1m": kit.loadavg()}
    log(f"== {variant}, {w:,} watchers (workdir {workdir})")
    with kit.children() as kids:
        port, db_url, server = start_server(variant, args, workdir, kids)
        out["server_pid"] = server.pid
        s = set_up(port, db_url, args.bidders)
        try:
            uvloop.run(measure(port, s, w, args, out))
        finally:
            server.stop()
            text = server.log_text()
            out["tracebacks"] = text.count("Traceback")
            if out["tracebacks"]:  # the first one, kept whatever happens to the workdir
                out["first_traceback"] = text[text.index("Traceback") - 200 :][:4000]
            out["error_lines"] = sum(ln.startswith("ERROR") for ln in text.splitlines())
    out["loadavg_1m_after"] = kit.loadavg()
    if args.cprofile:
        out["profile"] = str(workdir / "server.prof")
    elif not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def ok(r: dict[str, Any]) -> bool:
    rp, fr = r["replay"], r["frames"]
    return (not rp["mismatches"] and rp["final_matches"] and not rp["accepted_at_or_after_ends_at"]
            and rp["accepted_answers_match_history"] and not fr["watchers_with_bad_bid_frames"]
            and fr["auction_ended_per_watcher"] == [1] and fr["auction_ended_in_log"] == 1
            and r["tracebacks"] == 0)  # fmt: skip


def markdown(results: list[dict[str, Any]]) -> str:
    cols = ["variant", "watchers", "bids sent", "sent/s", "answered/s", "accepted", "refused",
            "bid→frame p50 ms", "p99 ms", "all sampled p99 ms", "ping answered/s", "ping p99 ms",
            "chat→frame p50 ms", "chat all sampled p99 ms", "server CPU s", "correct"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r.get('watchers_asked', '')} | failed: "
                         f"{r['error'][:100]} |" + " |" * (len(cols) - 3))  # fmt: skip
            continue
        b, lat, ref = r["bids"], r["latency"], r["reference"]
        refused = ", ".join(f"{k} {v}" for k, v in b["outcomes"].items() if k != "accepted")
        cells = [r["variant"], r["watchers"]["joined"], b["sent"], b["sent_per_s"],
                 b["answered_per_s"], b["outcomes"].get("accepted", 0), refused or 0,
                 lat["first_ms"]["p50"], lat["first_ms"]["p99"], lat["every_sampled_ms"]["p99"],
                 ref["pings"].get("answered_per_s"), ref["pings"].get("rtt_ms", {}).get("p99"),
                 ref["first_ms"]["p50"], ref["every_sampled_ms"]["p99"], r["cpu"]["server_s"],
                 "yes" if ok(r) else "NO"]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def pooled(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (variant, watchers): the runs' bid -> frame latencies together. One run has only
    a few accepted bids (its p99 is its maximum); pooled runs give the p99 some weight."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["variant"], r.get("watchers_asked", 0)), []).append(r)
    out = []
    for (variant, w), runs in groups.items():
        done = [r for r in runs if "error" not in r]
        values = [v for r in done for v in r["latency"]["first_values_ms"]]
        answered = sorted(r["bids"]["answered_per_s"] for r in done)
        mid = answered[len(answered) // 2] if answered else None
        out.append({
            "variant": variant, "watchers": w, "runs": len(runs), "failed": len(runs) - len(done),
            "bids_matched": len(values), "first_ms": kit.summary(values),
            "answered_per_s": {"min": answered[0] if answered else None, "median": mid},
            "all_correct": len(done) == len(runs) and all(ok(r) for r in done),
        })  # fmt: skip
    return out


def pooled_markdown(together: list[dict[str, Any]]) -> str:
    cols = ["variant", "watchers", "runs", "accepted bids", "bid→frame p50 ms", "p99 ms", "max ms",
            "answered/s min / median", "all correct"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for g in together:
        f, a = g["first_ms"], g["answered_per_s"]
        cells = [
            g["variant"],
            g["watchers"],
            g["runs"],
            g["bids_matched"],
            f["p50"],
            f["p99"],
            f["max"],
            f"{a['min']} / {a['median']}",
            "yes" if g["all_correct"] else "NO",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--watchers", type=int, nargs="+", default=[1000, 10000])
    add("--bidders", type=int, default=1000)
    add("--bids", type=int, default=3, help="bids per bidder")
    add("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    add("--rest", action="store_true", help="bid over REST instead of socket frames")
    add("--duration", type=int, default=8, help="the auction's duration_s")
    add("--window", type=float, default=5.0, help="bidders start this long before ends_at")
    add("--extend", type=int, default=10, help="extend_s (soft close)")
    add("--sudden-death", action="store_true")
    add("--sample", type=int, default=50, help="watchers that keep their frames")
    add("--seed", type=int, default=13)
    add("--repeat", type=int, default=1, help="runs of each (variant, W); latencies pooled")
    add("--probes", type=int, default=5, help="reference chat frames, one at a time")
    add("--web-workers", type=int, default=2, help="pg-redis: livecart serve --workers")
    add("--pg", default=kit.DEFAULT_PG, help="PostgreSQL server URL (no database)")
    add("--redis", default=kit.DEFAULT_REDIS, help="Redis URL (its database is flushed)")
    add("--scratch-db", default="livecart_bench_auction", help="recreated for each run")
    add("--cprofile", action="store_true", help="one server process under cProfile (kept)")
    add("--keep", action="store_true", help="keep the temp dirs (server logs)")
    add("--out", type=Path, default=kit.RESULTS / "auction.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kit.raise_fd_limit()
    info = {"machine": kit.machine(), "params": {k: str(v) for k, v in vars(args).items()}}
    if "pg-redis" in args.variants:
        info["services"] = asyncio.run(kit.service_versions(args.pg, args.redis))
    jobs = [f"{v}/{w}" for w in args.watchers for v in args.variants for _ in range(args.repeat)]
    try:
        results = kit.run_variants(
            jobs, lambda job: run(job.split("/")[0], int(job.split("/")[1]), args), 600
        )
    finally:
        if "pg-redis" in args.variants:
            kit.clean_up(args.pg, [args.scratch_db], args.redis)
    together = pooled(results) if args.repeat > 1 else []
    kit.write_json(args.out, {**info, "results": results, "pooled": together})
    print(markdown(results))
    if together:
        print("\n" + pooled_markdown(together))
    print(f"\nJSON: {args.out}")
    return 0 if all("error" not in r and ok(r) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
