"""Fan-out benchmark: N viewers join one live all at once, then pins; four servers.

    python -m bench.fanout --viewers 10000          # the run the docs quote
    python -m bench.fanout [--viewers 1000 5000 10000] [--variants ...] [--concurrency 0]
                           [--pins 5] [--out bench/results/fanout.json] [--logs DIR]

Variants (``--variants``; the first four are the default, run in this order for
every N, each (variant, N) in a fresh server process and a fresh temp dir,
hence, for livecart, a fresh ``./livecart.db``):

- ``livecart``: ``livecart serve --host 127.0.0.1 --port P``;
- ``livecart-uvicorn``: ``python -m uvicorn app.main:app --host 127.0.0.1
  --port P``, the plain command with no further flags (uvicorn's own defaults);
- ``livecart-workers2``: ``livecart serve --host 127.0.0.1 --port P --workers 2``
  with ``REDIS_URL`` (``--redis``, default ``redis://127.0.0.1:6379/5``, that
  database flushed before each run; SQLite in the temp dir as for the others);
- ``ref-broadcast``: ``python -m bench.refservers broadcast`` (``websockets`` + ``broadcast()``),
  listening with uvicorn's default backlog (2048) so that the storm meets the
  same accept queue. The ratios are against it.

Only on request: ``livecart-queued`` (``uvicorn app.main:app --ws
websockets-sansio --ws-per-message-deflate false``), ``livecart-queued-legacy``
(the same with ``--ws websockets``), ``ref-naive`` (``bench.refservers naive``,
Starlette, ``for ws in viewers: await ws.send_text``) and ``ref-floor``
(``bench.refservers floor``, a raw-asyncio calibration server).

Livecart servers get ``SECRET_KEY`` set and no ``LIVECART_ENV``,
``DATABASE_URL`` or ``PORT`` from the caller's environment (``--server-env``
adds variables). Every server inherits this process's open-file limit, raised
to the hard limit first, and runs in its own process group (stopped as a
group: SIGINT, then SIGKILL). Its stdout and stderr go to ``--logs
DIR/<variant>-<N>.log`` (default ``bench/results/fanout-logs``), kept after
the run; lines containing ``Traceback`` are counted per row (should be 0).
``--watch`` additionally runs the servers under ``bench.serverwatch`` (slow
garbage collections) with its log next to the server's.

Arrival: a *storm* by default (``--concurrency 0``): all N viewers start their
TCP connect at once with no in-flight cap. ``--concurrency C`` ramps instead,
at most C connects in flight. Viewers live in a separate load generator
process (``bench.wsclient``, a raw asyncio client) and wait up to
``--connect-timeout`` (60 s) each for their first frame.

Steps per (variant, N): start the server and wait until it answers (livecart:
``/healthz``, and every worker's "Application startup complete"); (livecart)
create a creator, a product and a started live over REST; connect 8 warm-up
viewers one by one, wait 0.5 s and read the RSS (the sum over the server's process group);
the storm; wait ``--idle`` s; read the RSS again; ``--pins`` pins (livecart:
``POST /api/lives/{id}/pin``; references: ``pin`` on a ``/control`` socket);
close every viewer with a closing handshake; stop the server; count the log.

Reported per (variant, N):

- *joined*: viewers whose first frame (the ``snapshot``) came, of N; *failed*
  by class: ``refused``, ``reset``, ``close <code>`` (e.g. ``close 1013``),
  ``http <status>``, ``eof``, ``timeout (connect)``/``timeout (snapshot)``,
  ``connect error <errno>`` (see ``wsclient.classify``);
- *join latency* p50/p99 of the joined viewers: from just before a viewer's TCP
  connect starts to the read that completes its first frame, monotonic clock,
  taken in the load generator (which also reports what the storm cost it: CPU
  seconds, its worst event-loop lag, when it started its last connect);
- *pin delivery* p50/p99: receive wall clock minus the frame's ``ts`` (median
  over the pins of each pin's percentile), and *pin got*: the fewest joined
  viewers that got one pin;
- *KB/viewer*: idle RSS growth over the storm divided by the viewers joined;
- *tracebacks* in the server log; the ratios livecart ÷ ``ref-broadcast`` (same
  N) of join p99 and pin p99.

A second table shows what the storm cost the one load generator process:
*storm s* (first connect started to last viewer joined or failed), when it
started its last connect, its CPU seconds, its worst event-loop lag, and the
TCP connect time p50/p99 (connect started to ``connection_made``). On
loopback a connect completes at once, so that time is mostly the client itself
getting back to its loop after starting every other connect: a delay that is
in every viewer's join latency, whatever the server. The ratios are the fair
comparison. JSON also has the failures' time to failure and the viewers that
joined but went away before or during the pins, by close code.

Results: a Markdown table on stdout and JSON at ``--out``. Nothing waits
unboundedly: every load generator command, HTTP request, server start and stop
has a timeout; a measurement that fails is reported as such and the run goes on
(with a fresh load generator).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import benchkit as kit
from bench import refservers, wsclient
from bench.loadgen import LoadGen

VIEWER_PATH = "/ws/lives/{live_id}"
DEFAULT_VARIANTS = ["livecart", "livecart-uvicorn", "livecart-workers2", "ref-broadcast"]
OPTIONAL_VARIANTS = ["livecart-queued", "livecart-queued-legacy", "ref-naive", "ref-floor"]
ALL_VARIANTS = [*DEFAULT_VARIANTS, *OPTIONAL_VARIANTS]
REFERENCE = "ref-broadcast"
WORKERS = {"livecart-workers2": 2}
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
WARM_UP = 8  # viewers before the RSS baseline (several, so each worker gets some)


def uvicorn_default_backlog() -> int:
    import uvicorn

    backlog: int = inspect.signature(uvicorn.Config).parameters["backlog"].default
    return backlog


# ---------------------------------------------------------------- servers


def log_path(args: argparse.Namespace, variant: str, n: int) -> Path:
    return Path(args.logs) / f"{variant}-{n}.log"


def server_command(variant: str, port: int, n: int, args: argparse.Namespace) -> list[str]:
    """The server's command line; under ``--watch``, run as a module by bench.serverwatch."""
    host_port = ["--host", "127.0.0.1", "--port", str(port)]
    if variant in ("livecart", "livecart-workers2"):
        workers = ["--workers", str(WORKERS[variant])] if variant in WORKERS else []
        module, rest = "app.cli", ["serve", *host_port, *workers]
    elif variant.startswith("livecart-"):  # plain uvicorn
        ws = {"livecart-queued": "websockets-sansio", "livecart-queued-legacy": "websockets"}
        flags = ["--ws", ws[variant], "--ws-per-message-deflate", "false"] if variant in ws else []
        module, rest = "uvicorn", ["app.main:app", *host_port, *flags]
    else:
        backlog = ["--backlog", str(uvicorn_default_backlog())]
        kind = variant.removeprefix("ref-")
        module, rest = "bench.refservers", [kind, "--port", str(port), *backlog]
    if args.watch:
        watch_log = str(Path(args.logs) / f"{variant}-{n}.watch.log")
        return kit.module_cmd("serverwatch", watch_log, module, *rest)
    if module == "app.cli":
        return [kit.livecart_exe(), *rest]
    return [sys.executable, "-m", module, *rest]


def server_env(variant: str, args: argparse.Namespace) -> dict[str, str]:
    env = kit.base_env(args.source, **kit.ONE_LOAD_ADDRESS)
    if variant in WORKERS:
        env["REDIS_URL"] = args.redis
    env.update(item.split("=", 1) for item in args.server_env)
    return env


@dataclass
class Server:
    variant: str
    port: int
    child: kit.Child

    @property
    def pid(self) -> int:
        return self.child.pid


@contextlib.contextmanager
def running_server(variant: str, n: int, args: argparse.Namespace) -> Iterator[Server]:
    """The server in a fresh temp dir (livecart: a fresh ``./livecart.db``), ready:
    ``/healthz`` and every worker started for livecart, a TCP accept otherwise."""
    port = kit.free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"fanout-{variant}-"))
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    if variant in WORKERS:
        kit.flush_redis(args.redis)
    cmd = server_command(variant, port, n, args)
    child = kit.Child(variant, cmd, env=server_env(variant, args), cwd=workdir,
                      logfile=log_path(args, variant, n), cpu=args.server_cpu)  # fmt: skip
    try:
        if variant.startswith("livecart"):
            kit.wait_ready(port, child, "/healthz", started=WORKERS.get(variant, 1))
        else:
            kit.wait_ready(port, child, None)
        yield Server(variant, port, child)
    finally:
        child.stop(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)


def log_summary(path: Path) -> dict[str, Any]:
    """Tracebacks and ERROR lines in a server log, and the first traceback's text."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"path": str(path), "tracebacks": None, "error_lines": None}
    tracebacks = [i for i, line in enumerate(lines) if "Traceback" in line]
    first = ""
    if tracebacks:
        first = "\n".join(lines[max(0, tracebacks[0] - 2) : tracebacks[0] + 40])
    return {
        "path": str(path),
        "lines": len(lines),
        "tracebacks": len(tracebacks),
        "error_lines": sum(1 for line in lines if line.startswith("ERROR")),
        "first_traceback": first or None,
    }


def open_file_limit(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def group_threads(pgid: int) -> int:
    total = 0
    for pid in kit.group_pids(pgid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/task"))
    return total


# ---------------------------------------------------------------- talking to servers


def setup_livecart(port: int) -> dict[str, Any]:
    """Creator, product and a started live; what the pin needs."""
    token = kit.rest(port, "POST", "/api/auth/register", refservers.CREATOR)["token"]
    product = kit.rest(port, "POST", "/api/products", refservers.PRODUCT, token)["product"]
    live = kit.rest(port, "POST", "/api/lives", {"title": "bench"}, token)["live"]
    kit.rest(port, "POST", f"/api/lives/{live['id']}/start", {}, token)
    return {"token": token, "product_id": product["id"], "live_id": live["id"]}


# ---------------------------------------------------------------- one measurement


def connect_call_timeout(n: int, args: argparse.Namespace) -> float:
    """How long the orchestrator waits for a ``connect`` (each viewer is bounded already)."""
    waves = 1 if args.concurrency <= 0 else math.ceil(n / args.concurrency)
    return args.connect_timeout * waves + 120


def measure(variant: str, n: int, gen: LoadGen, args: argparse.Namespace) -> dict[str, Any]:
    """One (variant, N); never raises: a failure is recorded in ``error``."""
    result: dict[str, Any] = {"variant": variant, "viewers": n, "error": None}
    log_path(args, variant, n).unlink(missing_ok=True)  # a previous run's must not be counted
    t0 = time.monotonic()
    try:
        with running_server(variant, n, args) as server:
            _measure(server, n, gen, args, result)
            t = time.monotonic()
        result["timings_s"]["stop_server"] = round(time.monotonic() - t, 2)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        kit.log(f"  !! {variant} N={n:,} failed: {result['error']}")
    result.setdefault("timings_s", {})["total"] = round(time.monotonic() - t0, 2)
    result["server_log"] = log_summary(log_path(args, variant, n))
    return result


def warm_up(server: Server, gen: LoadGen, result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The live (for livecart) and the viewers before the RSS baseline: first-connection
    costs (lazy imports, caches, the live's channel, in every worker) are not per-viewer
    costs. Returns what a pin needs and the viewers' path."""
    live_id = refservers.LIVE_ID
    setup: dict[str, Any] = {}
    if server.variant.startswith("livecart"):
        setup = setup_livecart(server.port)
        live_id = setup["live_id"]
    path = VIEWER_PATH.format(live_id=live_id)
    # One at a time (concurrency 1), 30 s each at most.
    warm = gen.call("connect", "127.0.0.1", server.port, path, WARM_UP, 1, 30.0, "warm-up",
                    timeout=WARM_UP * 30 + 60)  # fmt: skip
    result["warm_up"] = {"joined": warm["connected"], "failures": warm["errors"]}
    if not warm["connected"]:
        raise RuntimeError(f"no warm-up viewer could join: {warm['errors']}")
    time.sleep(0.5)
    return setup, path


def _measure(
    server: Server, n: int, gen: LoadGen, args: argparse.Namespace, result: dict[str, Any]
) -> None:
    variant = server.variant
    timings: dict[str, float] = {}
    result["timings_s"] = timings
    result["server_open_file_limit"] = open_file_limit(server.pid)
    t = time.monotonic()
    setup, path = warm_up(server, gen, result)
    rss_before = kit.group_rss_kb(server.pid)
    timings["setup"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    conn = gen.call(
        "connect", "127.0.0.1", server.port, path, n, args.concurrency, args.connect_timeout,
        f"{variant} N={n:,}", timeout=connect_call_timeout(n, args),
    )  # fmt: skip
    timings["connect"] = round(time.monotonic() - t, 2)
    joined = conn["connected"]
    result.update(
        joined=joined,
        failed=conn["failed"],
        failures=conn["errors"],
        failure_examples=conn["error_examples"],
        join_ms=kit.summary(conn["join_ms"]),
        tcp_connect_ms=kit.summary(conn["tcp_ms"]),
        failed_after_ms=kit.summary(conn["failed_after_ms"]),
        storm_seconds=conn["seconds"],
        client=conn["client"],
    )
    if conn["errors"]:
        kit.log(f"  join failures: {conn['errors']}")

    idle(server, rss_before, joined, args, result)
    result["gone_after_join"] = gen.call("after_join", timeout=30)["gone"]

    t = time.monotonic()
    rounds = []
    for i in range(args.pins if joined else 0):
        if i:
            time.sleep(args.pin_interval)
        rounds.append(pin_round(variant, server, setup, gen, args))
    timings["pins"] = round(time.monotonic() - t, 2)
    result["gone_after_pins"] = gen.call("after_join", timeout=30)["gone"]

    t = time.monotonic()
    result["close"] = gen.call("close", 30.0, timeout=90)
    timings["close"] = round(time.monotonic() - t, 2)
    result.update(pin_figures(rounds), loadavg_1m_at_end=kit.loadavg())
    jl, pl = result["join_ms"], result["latency_ms"]
    kit.log(
        f"  -> {variant} N={n:,}: joined {joined:,}/{n:,} in {conn['seconds']} s "
        f"(join p50 {jl['p50']} ms, p99 {jl['p99']} ms; failures {conn['errors'] or 0}); "
        f"pin got {result['received_every_pin']}/{joined}, p50 {pl['p50']} ms, "
        f"p99 {pl['p99']} ms; RSS {rss_before / 1024:.1f} -> "
        f"{result['rss_kb']['after_idle'] / 1024:.1f} MB "
        f"({result['kb_per_viewer']} KB/viewer); client {conn['client']}; steps {timings}"
    )


def idle(
    server: Server, rss_before: int, joined: int, args: argparse.Namespace, result: dict[str, Any]
) -> None:
    """``--idle`` seconds with every viewer connected; then the memory per viewer."""
    ticks, idle_cpu0 = kit.machine_ticks(), kit.group_cpu(server.pid)
    time.sleep(args.idle)
    # Little of ours runs while the viewers idle (keepalive pings, livecart's presence
    # tick): CPU use beyond the server's own is mostly other work on the machine.
    machine_busy_idle = kit.busy_percent(ticks, kit.machine_ticks())
    idle_cpu1 = kit.group_cpu(server.pid)
    rss_after = kit.group_rss_kb(server.pid)
    result.update(
        rss_kb={"before": rss_before, "after_idle": rss_after},
        kb_per_viewer=round((rss_after - rss_before) / joined, 2) if joined else None,
        server_processes=len(kit.group_pids(server.pid)),
        server_threads=group_threads(server.pid),
        machine_busy_percent_while_idle=machine_busy_idle,  # 100 = every core
        server_cpu_ms_while_idle=round((sum(idle_cpu1) - sum(idle_cpu0)) * 1000),
    )


def pin_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """What the pins show together: medians over the pins of each pin's own p50/p99, the
    range of the p99s, the max over all pins, the fewest viewers that got one pin."""

    def med(key: str) -> float | None:
        values = [r["latency_ms"][key] for r in rounds if r["latency_ms"][key] is not None]
        return round(statistics.median(values), 2) if values else None

    p99s = [r["latency_ms"]["p99"] for r in rounds if r["latency_ms"]["p99"] is not None]
    maxes = [r["latency_ms"]["max"] for r in rounds if r["latency_ms"]["max"] is not None]
    return {
        "pins": len(rounds),
        "received_every_pin": min((r["received"] for r in rounds), default=None),
        "frame_bytes": rounds[0]["frame_bytes"] if rounds else None,
        "latency_ms": {
            "p50": med("p50"),
            "p99": med("p99"),
            "p99_range": [min(p99s), max(p99s)] if p99s else None,
            "max": max(maxes) if maxes else None,
        },
        "spread_ms": med_of(rounds, "spread_ms"),
        "rounds": rounds,
    }


def med_of(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return round(statistics.median(values), 2) if values else None


def pin_round(
    variant: str, server: Server, setup: dict[str, Any], gen: LoadGen, args: argparse.Namespace
) -> dict[str, Any]:
    """One pin: arm the viewers, trigger it, wait until every viewer has it."""
    gen.call("arm", timeout=30)
    cpu0 = kit.group_cpu(server.pid)
    ticks = kit.machine_ticks()
    trigger_ns = time.time_ns()
    if variant.startswith("livecart"):
        body = {"product_id": setup["product_id"]}
        kit.rest(server.port, "POST", f"/api/lives/{setup['live_id']}/pin", body, setup["token"])
    else:
        control = wsclient.ControlSocket(server.port)
        try:
            control.send_text("pin")
            reply = control.recv_text()
            if not reply.startswith("ok"):
                raise RuntimeError(f"control answered {reply!r}")
        finally:
            control.close()
    got = gen.call("collect", args.pin_timeout, timeout=args.pin_timeout + 60)
    cpu1 = kit.group_cpu(server.pid)
    machine_busy = kit.busy_percent(ticks, kit.machine_ticks())
    latencies = [x for x in got["latencies_ms"] if x is not None]
    have = bool(latencies)
    return {
        "received": got["received"],
        "dropped_before_pin": got["dropped_before_pin"],
        "frame_bytes": got["frame_bytes"],
        "latency_ms": {"min": round(min(latencies), 2) if have else None, **kit.summary(latencies)},
        # receive time of the last viewer minus that of the first: the fan-out as seen
        "spread_ms": round((got["last_recv_ns"] - got["first_recv_ns"]) / 1e6, 2) if have else None,
        # includes, for livecart, the HTTP request and the work before the event's ts
        "trigger_to_first_ms": round((got["first_recv_ns"] - trigger_ns) / 1e6, 2)
        if have
        else None,
        # from just before the trigger until every viewer had the frame (10 ms ticks)
        "server_cpu_ms": {
            "user": round((cpu1[0] - cpu0[0]) * 1000),
            "sys": round((cpu1[1] - cpu0[1]) * 1000),
        },
        # the load generator's CPU from the arm until every viewer had the frame
        "client_cpu_ms": got["client_cpu_ms"],
        "pings_answered_so_far": got["pings_answered"],
        "machine_busy_percent": machine_busy,  # all processes, this pin
    }


# ---------------------------------------------------------------- report


def read_proc(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as f:
        return " ".join(f.read().split())
    return None


def machine() -> dict[str, Any]:
    """``benchkit.machine()`` and what a connect storm meets in the kernel."""
    net = ("core/somaxconn", "ipv4/tcp_max_syn_backlog", "ipv4/tcp_syncookies",
           "ipv4/ip_local_port_range", "ipv4/tcp_tw_reuse")  # fmt: skip
    return {
        **kit.machine(),
        "net": {name: read_proc(f"/proc/sys/net/{name}") for name in net},
        "uvicorn_default_backlog": uvicorn_default_backlog(),
    }


def source_info(source: Path | None) -> dict[str, Any]:
    """Which livecart code the servers ran: a --source tree, or this checkout (and if dirty)."""

    def git(*cmd: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(kit.ROOT), *cmd], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip()

    info: dict[str, Any] = {
        "path": str(source or kit.ROOT),
        "checkout_head_at_end": git("rev-parse", "HEAD"),  # of the checkout bench/ is in
    }
    if source is None:
        changed = [line for line in git("status", "--porcelain").splitlines() if line[3:4] != "b"]
        info["working_tree_changes"] = len(changed)
    elif (source / ".bench-source").exists():
        info["note"] = (source / ".bench-source").read_text().strip()
    return info


def ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """variant → N → ratios against the broadcast() reference of the same N."""
    ref = {r["viewers"]: r for r in results if r["variant"] == REFERENCE and not r["error"]}

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in results:
        base = ref.get(r["viewers"])
        if base is None or r["error"]:
            continue
        kb, base_kb = r["kb_per_viewer"], base["kb_per_viewer"]
        out.setdefault(r["variant"], {})[str(r["viewers"])] = {
            "join_p99": ratio(r["join_ms"]["p99"], base["join_ms"]["p99"]),
            "pin_p99": ratio(r["latency_ms"]["p99"], base["latency_ms"]["p99"]),
            "memory": ratio(kb, base_kb) if base_kb and base_kb > 0 else None,
        }
    return out


def failures_text(r: dict[str, Any]) -> str:
    if not r["failed"]:
        return "0"
    kinds = sorted(r["failures"].items(), key=lambda kv: -kv[1])
    return f"{r['failed']:,} (" + ", ".join(f"{k} ×{v:,}" for k, v in kinds) + ")"


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: the results, then what the storm cost the load generator."""
    rat = ratios(results)

    def f(x: Any, fmt: str = "{:.0f}") -> str:
        return "–" if x is None else fmt.format(x)

    lines = [
        "| viewers | server | joined | failed (how) | join p50 ms | join p99 ms | pin got "
        "| pin p50 ms | pin p99 ms | KB/viewer | tracebacks | join p99 ÷ ref | pin p99 ÷ ref |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for r in results:
        tb = f(r["server_log"]["tracebacks"])
        if r["error"]:
            errors.append(f"- {r['variant']}, {r['viewers']:,} viewers: {r['error']}")
            lines.append(
                f"| {r['viewers']:,} | {r['variant']} | error | see below | – | – | – | – | – "
                f"| – | {tb} | – | – |"
            )
            continue
        q = rat.get(r["variant"], {}).get(str(r["viewers"]), {})
        got = r["received_every_pin"]
        got_text = "–" if got is None else f"{got:,}/{r['joined']:,}"
        lines.append(
            f"| {r['viewers']:,} | {r['variant']} | {r['joined']:,}/{r['viewers']:,} "
            f"| {failures_text(r)} | {f(r['join_ms']['p50'])} | {f(r['join_ms']['p99'])} "
            f"| {got_text} "
            f"| {f(r['latency_ms']['p50'])} | {f(r['latency_ms']['p99'])} "
            f"| {f(r['kb_per_viewer'], '{:.1f}')} | {tb} "
            f"| {f(q.get('join_p99'), '{:.2f}×')} | {f(q.get('pin_p99'), '{:.2f}×')} |"
        )
    lines += [
        "",
        "Load generator (one process) during the join storm:",
        "",
        "| viewers | server | storm s | last connect started ms | client CPU s "
        "| max loop lag ms | TCP connect p50 ms | TCP connect p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["error"]:
            continue
        c, tcp = r["client"], r["tcp_connect_ms"]
        lines.append(
            f"| {r['viewers']:,} | {r['variant']} | {r['storm_seconds']:.2f} "
            f"| {c['last_connect_started_ms']:.0f} | {c['cpu_s']:.2f} | {c['max_loop_lag_ms']:.0f} "
            f"| {f(tcp['p50'], '{:.1f}')} | {f(tcp['p99'], '{:.1f}')} |"
        )
    if errors:
        lines += ["", "Failed measurements:", *errors]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    # fmt: off
    add("--viewers", type=int, nargs="+", default=[1000, 5000, 10000])
    add("--variants", nargs="+", choices=ALL_VARIANTS, default=DEFAULT_VARIANTS)
    add("--out", type=Path, default=kit.RESULTS / "fanout.json")
    add("--concurrency", type=int, default=0,
        help="connects in flight; 0 (the default): a storm, every viewer connects at once")
    add("--connect-timeout", type=float, default=60.0, help="per viewer, s")
    add("--idle", type=float, default=2.0, help="s idle before RSS and pin")
    add("--pin-timeout", type=float, default=30.0, help="s to wait for the pin")
    add("--pins", type=int, default=5, help="pins per measurement (rounds)")
    add("--pin-interval", type=float, default=1.0, help="s between pins")
    add("--client-loop", choices=["uvloop", "asyncio"], default="uvloop")
    add("--server-cpu", type=int, default=None, help="pin servers to this CPU")
    add("--client-cpu", type=int, default=None, help="pin the client to this CPU")
    add("--redis", default=DEFAULT_REDIS,
        help="REDIS_URL of livecart-workers2; this database is flushed before each run")
    add("--logs", type=Path, default=kit.RESULTS / "fanout-logs",
        help="server logs (stdout+stderr), one per (variant, N): DIR/<variant>-<N>.log")
    add("--source", type=Path, default=None,
        help="a livecart source tree to benchmark (e.g. from `git archive`), put first on the "
        "servers' PYTHONPATH; default: the installed package (this working tree)")
    add("--watch", nargs="?", type=Path, const=True, default=None, metavar="DIR",
        help="diagnostics: run the servers under bench.serverwatch (slow garbage "
        "collections); its logs go next to the server logs (in DIR, if given, which then "
        "also holds the server logs)")
    add("--server-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for every server (experiments), e.g. "
        "LIVECART_WS_PING_INTERVAL_S=3600")
    # fmt: on
    args = parser.parse_args(argv)
    args.logs = (args.watch if isinstance(args.watch, Path) else args.logs).resolve()
    args.watch = args.watch is not None
    args.source = args.source.resolve() if args.source else None
    return args


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (N, variant), one load generator (a fresh one after a failed measurement)."""
    gen = LoadGen(args.client_loop, args.client_cpu)
    results: list[dict[str, Any]] = []
    try:
        for n in args.viewers:
            for variant in args.variants:
                kit.log(f"== {variant}, {n:,} viewers")
                result = measure(variant, n, gen, args)
                results.append(result)
                if result["error"]:  # it may be stuck mid-command: start afresh
                    gen.shutdown()
                    gen = LoadGen(args.client_loop, args.client_cpu)
    finally:
        gen.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Before any child: the servers and the load generator inherit the raised limit.
    fds = kit.raise_fd_limit()
    if fds < max(args.viewers) + 100:
        kit.log(f"warning: open-file limit {fds} is below {max(args.viewers):,} viewers")
    os.chdir(kit.ROOT)  # `uvicorn app.main:app` and the bench modules are found from here
    started = time.time()
    results = run_all(args)
    settings = {
        "arrival": "storm" if args.concurrency <= 0 else f"ramp, {args.concurrency} in flight",
        "warm_up_viewers": WARM_UP,
        "redis": args.redis if any(v in WORKERS for v in args.variants) else None,
        **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
           if k not in {"viewers", "variants", "out", "redis"}},
    }  # fmt: skip
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "livecart_source": source_info(args.source),
        "settings": settings,
        "results": results,
        "ratios_vs_ref_broadcast": ratios(results),
    }
    kit.write_json(args.out, report)
    print(table(results))
    print(f"\n{len(results)} measurements in {report['seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
