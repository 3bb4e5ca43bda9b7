"""Password guessing against a running server, and what it costs everyone else.

An attacker's clients send wrong passwords as fast as the server answers while a
shopper's client reads ``GET /api/lives`` every 50 ms. Reported: how many guesses
were answered 401 (a password checked: ~30 ms of Argon2 each) and 429 (refused by
the throttle before any check), and the shopper's latency during the flood next to
the same server idle, measured in the same run.

Floods:

- ``one-account``: every guess against one account, from one address (the audit's
  finding: 300 guesses at ~29/s, all answered, no 429);
- ``spread``: each guess from another address (``X-Forwarded-For``, trusted from
  127.0.0.1 as behind a proxy) against another account, so no limit is reached:
  what bounds the damage then is that password hashing gets at most half the cores.

Servers (``livecart serve``, production settings): ``throttled`` with the default
limits, and the reference ``unthrottled`` with every limit 0 (what the server did
before throttling). ``--before DIR`` adds a run of another source tree (say, a
``git worktree`` of the commit before throttling and the hashing pool).

    python -m bench.guessing --seconds 10 --guessers 8 [--before /tmp/livecart-before]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import benchkit as kit

PASSWORD = "right-password-1"
UNTHROTTLED = {
    "LIVECART_LOGIN_FAILURES_PER_ACCOUNT": "0",
    "LIVECART_LOGIN_FAILURES_PER_ADDRESS": "0",
}


def guesser(port: int, flood: str, index: int, stop: threading.Event, out: dict[int, int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while not stop.is_set():
        n += 1
        spread = flood == "spread"
        name = f"user_{index}_{n}" if spread else "victim"
        headers = {"Content-Type": "application/json"}
        if spread:
            headers["X-Forwarded-For"] = f"10.{index}.{n // 250 % 250}.{n % 250 + 1}"
        body = json.dumps({"username": name, "password": f"guess-{n}"})
        conn.request("POST", "/api/auth/login", body, headers)
        resp = conn.getresponse()
        resp.read()
        out[resp.status] = out.get(resp.status, 0) + 1
    conn.close()


def probe(port: int, seconds: float) -> list[float]:
    """Latencies (ms) of GET /api/lives every 50 ms for ``seconds``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        conn.request("GET", "/api/lives?status=live")
        conn.getresponse().read()
        took.append((time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    conn.close()
    return sorted(took)


def flood(port: int, kind: str, guessers: int, seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    counts: list[dict[int, int]] = [{} for _ in range(guessers)]
    threads = [
        threading.Thread(target=guesser, args=(port, kind, i, stop, counts[i]), daemon=True)
        for i in range(guessers)
    ]
    for thread in threads:
        thread.start()
    latencies = probe(port, seconds)
    stop.set()
    for thread in threads:
        thread.join(30)
    total: dict[int, int] = {}
    for c in counts:
        for status, n in c.items():
            total[status] = total.get(status, 0) + n
    return {"answers": total, **summary(latencies)}


def summary(latencies: list[float]) -> dict[str, float | None]:
    figures = kit.summary(latencies)
    return {"p50_ms": figures["p50"], "p99_ms": figures["p99"]}


def run_variant(
    name: str, env: dict[str, str], args: argparse.Namespace, source: Path | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, kit.children() as kids:
        port = kit.free_port()
        server = kit.Child(
            "serve", [kit.livecart_exe(), "serve", "--port", str(port)],
            env=kit.base_env(source, LIVECART_ENV="production", **env), cwd=Path(tmp),
            logfile=Path(tmp) / "serve.log",
        )  # fmt: skip
        kids.append(server)
        kit.wait_ready(port, server)
        kit.rest(port, "POST", "/api/auth/register", {"username": "victim", "password": PASSWORD})
        result["idle"] = summary(probe(port, args.seconds / 2))
        for kind in ("one-account", "spread"):
            result[kind] = flood(port, kind, args.guessers, args.seconds)
        status, _ = kit.http_json(
            port, "POST", "/api/auth/login", {"username": "victim", "password": PASSWORD}
        )
        result["victim_login_after"] = status
        result["tracebacks"] = server.logfile.read_text(errors="replace").count("Traceback")
    kit.log(f"{name}: {json.dumps(result)}")
    return result


def table(servers: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| server | flood | passwords checked (401) | refused unchecked (429) "
        "| shopper p50 / p99 ms | after the flood, the right password |",
        "|---|---|---:|---:|---|---|",
    ]
    for name, r in servers.items():
        for flood_kind in ("idle", "one-account", "spread"):
            f = r[flood_kind]
            answers = f.get("answers", {})
            checked, refused = answers.get(401, ""), answers.get(429, "")
            after = r["victim_login_after"] if flood_kind == "one-account" else ""
            lines.append(
                f"| {name} | {flood_kind} | {checked} | {refused} "
                f"| {f['p50_ms']} / {f['p99_ms']} | {after} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood")
    parser.add_argument("--guessers", type=int, default=8)
    parser.add_argument("--before", type=Path, help="another source tree to run as well")
    parser.add_argument("--out", type=Path, default=kit.RESULTS / "guessing.json")
    args = parser.parse_args()
    servers = {
        "throttled": run_variant("throttled", {}, args),
        "unthrottled (reference)": run_variant("unthrottled", UNTHROTTLED, args),
    }
    if args.before is not None:
        servers["before"] = run_variant("before", {}, args, args.before.resolve())
    kit.write_json(args.out, {"machine": kit.machine(), **servers})
    print(table(servers))
    tracebacks = sum(r["tracebacks"] for r in servers.values())
    print(f"\ntracebacks in the server logs: {tracebacks}; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
