"""Fan-out benchmark: one pin, N idle WebSocket viewers, four servers.

    python bench/fanout.py [--viewers 1000 5000 10000] [--out bench/results/fanout.json]

For every N and every server variant, in the same run and in this order:

- ``livecart``: ``livecart serve`` (uvicorn + ``app.wsproto.LivecartWebSocketProtocol``:
  broadcast frames encoded once and written straight to each transport);
- ``livecart-queued``: ``uvicorn app.main:app --ws websockets-sansio
  --ws-per-message-deflate false`` (plain ASGI: a bounded queue per viewer
  drained by ``await websocket.send_text``);
- ``ref-broadcast``: ``bench/ref_broadcast.py``, ``websockets`` + ``broadcast()``;
- ``ref-naive``: ``bench/ref_naive.py``, Starlette, ``for ws in viewers: await ws.send_text``.

Each (variant, N) gets a fresh server process (livecart: a fresh temp dir,
hence a fresh ``./livecart.db``). The viewers live in a separate load
generator process (``bench/wsclient.py``, raw asyncio WebSocket client).

Steps: start the server and poll until it answers; (livecart) create a creator,
a product and a live over REST and start it; connect one warm-up viewer; read
the server's RSS; connect N viewers (each waits for its ``snapshot``); wait
``--idle`` seconds; read RSS again; pin once (livecart: ``POST
/api/lives/{id}/pin``; references: ``pin`` on a ``/control`` socket); every
viewer records ``receive wall clock (ms) - frame ts``; close all viewers with a
closing handshake; stop the server.

Results: a Markdown table on stdout and JSON at ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import refframes  # noqa: E402
import wsclient  # noqa: E402

VIEWER_PATH = "/ws/lives/{live_id}"
DEFAULT_VARIANTS = ["livecart", "livecart-queued", "ref-broadcast", "ref-naive"]
# Only on request: ref-floor, a raw-asyncio calibration server (bench/ref_floor.py), and
# livecart-queued-legacy, the queued path on uvicorn's other installed WebSocket
# implementation (``--ws websockets``, the legacy websockets protocol).
ALL_VARIANTS = [*DEFAULT_VARIANTS, "ref-floor", "livecart-queued-legacy"]
REFERENCE = "ref-broadcast"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


WATCH: Path | None = None  # --watch: run servers under bench/serverwatch.py, logs here


def server_command(variant: str, port: int, n: int = 0) -> list[str]:
    cmd = _server_command(variant, port)
    if WATCH is None:
        return cmd
    WATCH.mkdir(parents=True, exist_ok=True)
    log = str(WATCH / f"{variant}-{n}.log")
    watch = [sys.executable, str(HERE / "serverwatch.py"), log]
    if variant == "livecart":
        return [*watch, "app.cli", *cmd[1:]]
    if cmd[1:3] == ["-m", "uvicorn"]:
        return [*watch, "uvicorn", *cmd[3:]]
    return [*watch, *cmd[1:]]


def _server_command(variant: str, port: int) -> list[str]:
    py = sys.executable
    if variant == "livecart":
        exe = Path(py).parent / "livecart"
        livecart = str(exe) if exe.exists() else (shutil.which("livecart") or "livecart")
        return [livecart, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if variant in ("livecart-queued", "livecart-queued-legacy"):
        ws = "websockets-sansio" if variant == "livecart-queued" else "websockets"
        return [
            py, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
            "--ws", ws, "--ws-per-message-deflate", "false",
        ]  # fmt: skip
    if variant == "ref-broadcast":
        return [py, str(HERE / "ref_broadcast.py"), "--port", str(port)]
    if variant == "ref-naive":
        return [py, str(HERE / "ref_naive.py"), "--port", str(port)]
    if variant == "ref-floor":
        return [py, str(HERE / "ref_floor.py"), "--port", str(port)]
    raise ValueError(variant)


SOURCE: Path | None = None  # --source: import app/live/checkout from here instead
EXTRA_ENV: dict[str, str] = {}  # --server-env


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PORT"}}
    if SOURCE is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(SOURCE), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    env["SECRET_KEY"] = "bench-secret-key-not-for-production"
    env.pop("LIVECART_ENV", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(EXTRA_ENV)
    return env


@dataclass
class Server:
    variant: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    logfile: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running_server(variant: str, cpu: int | None, n: int = 0) -> Iterator[Server]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"fanout-{variant}-"))
    logfile = workdir / "server.log"
    preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    with open(logfile, "wb") as out:
        proc = subprocess.Popen(
            server_command(variant, port, n),
            cwd=workdir,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
    server = Server(variant, port, proc, workdir, logfile)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    """Poll until the server answers: ``/healthz`` for livecart, a TCP accept otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.variant} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if server.variant.startswith("livecart"):
                status, _ = http_json(server.port, "GET", "/healthz", timeout=1.0)
                if status == 200:
                    return
            else:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1.0):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.variant} not ready after {timeout}s:\n{server.log_tail()}")


def stop(server: Server) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn and the references shut down on SIGINT
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Machine CPU use between two ``cpu_ticks()`` (100 = every core busy)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return round(100 * busy / total, 1) if total else 0.0


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (clock-tick resolution, usually 10 ms)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


# ---------------------------------------------------------------- talking to servers


def http_json(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def rest(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, data = http_json(port, method, path, body, token)
    if status >= 300:
        raise RuntimeError(f"{method} {path} -> {status} {data}")
    return data


def setup_livecart(port: int) -> dict[str, Any]:
    """Creator, product and a started live; what the pin needs."""
    token = rest(port, "POST", "/api/auth/register", refframes.CREATOR)["token"]
    product = rest(port, "POST", "/api/products", refframes.PRODUCT, token)["product"]
    live = rest(port, "POST", "/api/lives", {"title": "bench"}, token)["live"]
    rest(port, "POST", f"/api/lives/{live['id']}/start", {}, token)
    return {"token": token, "product_id": product["id"], "live_id": live["id"]}


class ControlSocket:
    """A blocking WebSocket client for the references' ``/control`` socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(wsclient.handshake_request("127.0.0.1", port, "/control"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("control socket closed during handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101") or wsclient.ACCEPT not in head:
            raise ConnectionError(f"control handshake refused: {head[:80]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("control socket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_text(self, text: str) -> None:
        self.sock.sendall(wsclient.client_frame(wsclient.OP_TEXT, text.encode()))

    def recv_text(self) -> str:
        while True:
            b0, b1 = self._read(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            payload = self._read(length)
            opcode = b0 & 0x0F
            if opcode == wsclient.OP_PING:
                self.sock.sendall(wsclient.client_frame(wsclient.OP_PONG, payload))
            elif opcode == wsclient.OP_TEXT:
                return payload.decode()
            elif opcode == wsclient.OP_CLOSE:
                raise ConnectionError("control socket closed by the server")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(wsclient.CLOSE_1000)
            self.sock.settimeout(2)
            while self.sock.recv(4096):
                pass
        self.sock.close()


# ---------------------------------------------------------------- load generator


class LoadGen:
    """The load generator process (``wsclient.run_loadgen``) and its command pipe."""

    def __init__(self, loop_kind: str, cpu: int | None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=wsclient.run_loadgen, args=(child, loop_kind, True, cpu), name="loadgen"
        )
        self.proc.start()
        child.close()

    def call(self, *command: Any, timeout: float = 600) -> dict[str, Any]:
        self.conn.send(command)
        if not self.conn.poll(timeout):
            raise TimeoutError(f"load generator did not answer {command[0]!r} in {timeout}s")
        result: dict[str, Any] = self.conn.recv()
        if "error" in result:
            raise RuntimeError(f"load generator failed on {command[0]!r}: {result['error']}")
        return result

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.call("exit", timeout=15)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


# ---------------------------------------------------------------- one measurement


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def measure(variant: str, n: int, gen: LoadGen, args: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with running_server(variant, args.server_cpu, n) as server:
        timings["start_server"] = time.monotonic() - t0
        t = time.monotonic()
        live_id = refframes.LIVE_ID
        setup: dict[str, Any] = {}
        if variant.startswith("livecart"):
            setup = setup_livecart(server.port)
            live_id = setup["live_id"]
        path = VIEWER_PATH.format(live_id=live_id)
        # One viewer before the baseline: first-connection costs (lazy imports, caches,
        # the live's channel) are not per-viewer costs.
        gen.call("connect", "127.0.0.1", server.port, path, 1, 1, 30.0, "warm-up")
        time.sleep(0.5)
        rss_before = rss_kb(server.pid)
        timings["setup"] = time.monotonic() - t

        t = time.monotonic()
        conn = gen.call(
            "connect", "127.0.0.1", server.port, path, n, args.concurrency, args.connect_timeout,
            f"{variant} N={n:,}",
        )  # fmt: skip
        timings["connect"] = time.monotonic() - t
        if conn["errors"]:
            log(f"  connect errors: {conn['errors']}")
        ticks, idle_cpu0 = cpu_ticks(), cpu_seconds(server.pid)
        time.sleep(args.idle)
        # Little of ours runs while the viewers idle (keepalive pings, livecart's presence
        # tick): CPU use beyond the server's own is mostly other work on the machine.
        machine_busy_idle = busy_percent(ticks, cpu_ticks())
        idle_cpu1 = cpu_seconds(server.pid)
        server_idle_ms = round((sum(idle_cpu1) - sum(idle_cpu0)) * 1000)
        rss_after = rss_kb(server.pid)
        threads = len(os.listdir(f"/proc/{server.pid}/task"))

        t = time.monotonic()
        rounds = []
        for i in range(args.pins):
            if i:
                time.sleep(args.pin_interval)
            rounds.append(pin_round(variant, server, setup, gen, args))
        timings["pins"] = time.monotonic() - t

        t = time.monotonic()
        closed = gen.call("close", 30.0)
        timings["close"] = time.monotonic() - t
        t = time.monotonic()
    timings["stop_server"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0

    def med(key: str) -> float | None:
        values = [r["latency_ms"][key] for r in rounds if r["latency_ms"][key] is not None]
        return round(statistics.median(values), 2) if values else None

    p99s = [r["latency_ms"]["p99"] for r in rounds if r["latency_ms"]["p99"] is not None]
    maxes = [r["latency_ms"]["max"] for r in rounds if r["latency_ms"]["max"] is not None]
    received = min(r["received"] for r in rounds)
    result = {
        "variant": variant,
        "viewers": n,
        "connected": conn["connected"],
        "connect_failed": conn["failed"],
        "connect_errors": conn["errors"],
        "connect_seconds": conn["seconds"],
        "pins": len(rounds),
        "received_every_pin": received,  # the fewest viewers that got one of the pins
        "frame_bytes": rounds[0]["frame_bytes"],
        # medians over the pins of each pin's own p50/p99; max over all pins
        "latency_ms": {
            "p50": med("p50"),
            "p99": med("p99"),
            "p99_range": [min(p99s), max(p99s)] if p99s else None,
            "max": max(maxes) if maxes else None,
        },
        "spread_ms": med_of(rounds, "spread_ms"),
        "rss_kb": {"before": rss_before, "after_idle": rss_after},
        "kb_per_viewer": round((rss_after - rss_before) / n, 2) if n else None,
        "server_threads": threads,
        "machine_busy_percent_while_idle": machine_busy_idle,  # 100 = both cores
        "server_cpu_ms_while_idle": server_idle_ms,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "close": closed,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "rounds": rounds,
    }
    ok = "all" if received == n else f"ONLY {received}"
    log(
        f"  -> {variant} N={n:,}: {ok} got each of {len(rounds)} pins; "
        f"p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms "
        f"(pins: {', '.join(f'{x:.0f}' for x in p99s)}), max {result['latency_ms']['max']} ms; "
        f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB "
        f"({result['kb_per_viewer']} KB/viewer); machine {machine_busy_idle}% busy while idle "
        f"(server {server_idle_ms} ms of {args.idle:.0f} s); "
        f"steps {result['timings_s']}"
    )
    return result


def med_of(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return round(statistics.median(values), 2) if values else None


def pin_round(
    variant: str, server: Server, setup: dict[str, Any], gen: LoadGen, args: argparse.Namespace
) -> dict[str, Any]:
    """One pin: arm the viewers, trigger it, wait until every viewer has it."""
    gen.call("arm")
    cpu0 = cpu_seconds(server.pid)
    ticks = cpu_ticks()
    trigger_ns = time.time_ns()
    if variant.startswith("livecart"):
        body = {"product_id": setup["product_id"]}
        rest(server.port, "POST", f"/api/lives/{setup['live_id']}/pin", body, setup["token"])
    else:
        control = ControlSocket(server.port)
        try:
            control.send_text("pin")
            reply = control.recv_text()
            if not reply.startswith("ok"):
                raise RuntimeError(f"control answered {reply!r}")
        finally:
            control.close()
    got = gen.call("collect", args.pin_timeout)
    cpu1 = cpu_seconds(server.pid)
    machine_busy = busy_percent(ticks, cpu_ticks())
    lat = sorted(x for x in got["latencies_ms"] if x is not None)
    have = bool(lat)
    return {
        "received": got["received"],
        "dropped_before_pin": got["dropped_before_pin"],
        "frame_bytes": got["frame_bytes"],
        "latency_ms": {
            "min": round(lat[0], 2) if have else None,
            "p50": round(percentile(lat, 50), 2) if have else None,
            "p99": round(percentile(lat, 99), 2) if have else None,
            "max": round(lat[-1], 2) if have else None,
            "mean": round(sum(lat) / len(lat), 2) if have else None,
        },
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


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                os_name = (
                    line.split("=", 1)[1].strip().strip('"') + f" (kernel {platform.release()})"
                )
    versions = {}
    for mod in ("uvicorn", "websockets", "starlette", "uvloop"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "os": os_name,
        "packages": versions,
    }


def source_info() -> dict[str, Any]:
    """Which livecart code the servers ran: a --source tree, or this checkout (and if dirty)."""

    def git(*cmd: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, text=True)
        return out.stdout.strip()

    info: dict[str, Any] = {
        "path": str(SOURCE or ROOT),
        "checkout_head_at_end": git("rev-parse", "HEAD"),  # of the checkout bench/ is in
    }
    if SOURCE is None:
        changed = [line for line in git("status", "--porcelain").splitlines() if line[3:4] != "b"]
        info["working_tree_changes"] = len(changed)
    elif (SOURCE / ".bench-source").exists():
        info["note"] = (SOURCE / ".bench-source").read_text().strip()
    return info


def ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """variant → N → livecart-style ratios against the broadcast() reference of the same N."""
    ref = {r["viewers"]: r for r in results if r["variant"] == REFERENCE}
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in results:
        base = ref.get(r["viewers"])
        if base is None:
            continue
        p99, base_p99 = r["latency_ms"]["p99"], base["latency_ms"]["p99"]
        kb, base_kb = r["kb_per_viewer"], base["kb_per_viewer"]
        out.setdefault(r["variant"], {})[str(r["viewers"])] = {
            "p99": round(p99 / base_p99, 2) if p99 and base_p99 else None,
            "memory": round(kb / base_kb, 2) if kb and base_kb and base_kb > 0 else None,
        }
    return out


def table(results: list[dict[str, Any]]) -> str:
    """Markdown. Latencies: median over the pins of each pin's p50/p99; max over all pins."""
    rat = ratios(results)
    lines = [
        "| viewers | server | connected | got every pin | p50 ms | p99 ms | p99 range ms "
        "| max ms | RSS before MB | RSS idle MB | KB/viewer | p99 ÷ ref(a) | KB ÷ ref(a) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(x: Any, fmt: str = "{:.0f}") -> str:
        return "–" if x is None else fmt.format(x)

    for r in results:
        lat = r["latency_ms"]
        q = rat.get(r["variant"], {}).get(str(r["viewers"]), {})
        rng = lat["p99_range"]
        lines.append(
            f"| {r['viewers']:,} | {r['variant']} | {r['connected']:,} "
            f"| {r['received_every_pin']:,} | {f(lat['p50'])} | {f(lat['p99'])} "
            f"| {f(rng[0]) + '–' + f(rng[1]) if rng else '–'} | {f(lat['max'])} "
            f"| {r['rss_kb']['before'] / 1024:.1f} | {r['rss_kb']['after_idle'] / 1024:.1f} "
            f"| {f(r['kb_per_viewer'], '{:.1f}')} | {f(q.get('p99'), '{:.2f}×')} "
            f"| {f(q.get('memory'), '{:.2f}×')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--variants", nargs="+", choices=ALL_VARIANTS, default=DEFAULT_VARIANTS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fanout.json")
    parser.add_argument("--concurrency", type=int, default=500, help="connects in flight")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="per viewer, s")
    parser.add_argument("--idle", type=float, default=2.0, help="s idle before RSS and pin")
    parser.add_argument("--pin-timeout", type=float, default=30.0, help="s to wait for the pin")
    parser.add_argument("--pins", type=int, default=5, help="pins per measurement (rounds)")
    parser.add_argument("--pin-interval", type=float, default=1.0, help="s between pins")
    parser.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--server-cpu", type=int, default=None, help="pin servers to this CPU")
    parser.add_argument("--client-cpu", type=int, default=None, help="pin the client to this CPU")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="a livecart source tree to benchmark (e.g. from `git archive`), put first on the "
        "servers' PYTHONPATH; default: the installed package (this working tree)",
    )
    parser.add_argument(
        "--watch",
        type=Path,
        default=None,
        help="diagnostics: run the servers under bench/serverwatch.py (slow GCs, server-side "
        "fan-out time), one log per server in this directory",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for every server (experiments), e.g. "
        "LIVECART_WS_PING_INTERVAL_S=3600",
    )
    args = parser.parse_args(argv)
    EXTRA_ENV.update(item.split("=", 1) for item in args.server_env)
    global SOURCE, WATCH
    WATCH = args.watch.resolve() if args.watch else None
    SOURCE = args.source.resolve() if args.source else None

    fds = wsclient.raise_fd_limit()
    if fds < max(args.viewers) + 100:
        log(f"warning: fd limit {fds} is below {max(args.viewers)} viewers")
    os.chdir(ROOT)  # `uvicorn app.main:app` and the bench scripts are found from here
    started = time.time()
    gen = LoadGen(args.client_loop, args.client_cpu)
    results: list[dict[str, Any]] = []
    try:
        for n in args.viewers:
            for variant in args.variants:
                log(f"== {variant}, {n:,} viewers")
                results.append(measure(variant, n, gen, args))
    finally:
        gen.shutdown()

    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "livecart_source": source_info(),
        "settings": {
            "concurrency": args.concurrency,
            "idle_s": args.idle,
            "pins": args.pins,
            "pin_interval_s": args.pin_interval,
            "client_loop": args.client_loop,
            "server_cpu": args.server_cpu,
            "client_cpu": args.client_cpu,
            "server_env": EXTRA_ENV,
        },
        "results": results,
        "ratios_vs_ref_broadcast": ratios(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"\n{len(results)} measurements in {report['seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
