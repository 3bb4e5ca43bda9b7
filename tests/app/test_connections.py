"""Connection exhaustion (issue #11, finding 1): a request-header deadline and a cap on
open connections per address, on real servers over real sockets.

Clients connect from 127.0.0.2 (bound source address): 127.0.0.1 is a trusted proxy
(uvicorn's default ``--forwarded-allow-ips``) and exempt from the cap. Waiting for the
server to close a connection is a socket read with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from app.connections import OPEN
from app.settings import Settings
from tests.http_helpers import http_client
from tests.live_server import ServerProcess, process_env, serve, spawned, uvicorn_args
from tests.services import free_port
from tests.ws_helpers import Rest, snapshot, viewers_count

HEADER_TIMEOUT_S = 1.0
CAP = 40
CLIENT = "127.0.0.2"
OTHER = "127.0.0.3"
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: livecart\r\nUser-Agent: slow"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: livecart\r\n\r\n"
LIMITED = {
    "LIVECART_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "LIVECART_MAX_CONNECTIONS_PER_ADDRESS": str(CAP),
    "LIVECART_ACCESS_LOG": "0",
}


def copied_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "livecart.db"
    shutil.copy(sqlite_template, path)
    return Settings(database_url=f"sqlite+aiosqlite:///{path}", secret_key="conn-test-secret")


@pytest.fixture
def livecart_serve(sqlite_template: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """``livecart serve`` with a 1 s header deadline and a cap of 40 per address."""
    env = process_env(copied_settings(sqlite_template, tmp_path), **LIMITED)
    server = ServerProcess(env, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def plain_uvicorn(env: dict[str, str], cwd: Path) -> Iterator[int]:
    """``python -m uvicorn app.main:app --port P``, no other flag; yields the port."""
    port = free_port()
    with spawned(uvicorn_args(port), cwd, env, port):
        yield port


def dial(port: int, source: str = CLIENT) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


def closed_at(sock: socket.socket, deadline: float) -> float | None:
    """When the server closed ``sock`` (monotonic), reading until ``deadline`` at most;
    None if it is still open then."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic()


def seconds_until_closed(sock: socket.socket, within: float) -> float | None:
    start = time.monotonic()
    closed = closed_at(sock, start + within)
    return None if closed is None else closed - start


def read_response(sock: socket.socket) -> bytes:
    """The head of one whole response to a small request (the body read by its length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:])
    while len(body) < int(fields[b"content-length"]):
        body += sock.recv(4096)
    return head


def healthz(port: int, source: str) -> tuple[int, float]:
    """Status and latency of ``GET /healthz`` on a new connection from ``source``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    start = time.monotonic()
    try:
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.monotonic() - start


@pytest.mark.slow
def test_half_sent_requests_are_closed_after_the_header_timeout(
    livecart_serve: ServerProcess,
) -> None:
    port = livecart_serve.port
    started = time.monotonic()  # before connect: the deadline runs from accept
    stalled = [dial(port) for _ in range(CAP - 2)]
    for sock in stalled:
        sock.sendall(HALF_SENT)
    # A kept-alive connection whose second request stalls: the same deadline, from its
    # first byte (uvicorn's keep-alive timeout stops counting once any byte arrives).
    kept = dial(port)
    kept.sendall(HEALTHZ)
    assert read_response(kept).startswith(b"HTTP/1.1 200")
    kept.sendall(HALF_SENT)
    kept_started = time.monotonic()
    # Meanwhile the server answers everyone else, at once.
    status, latency = healthz(port, OTHER)
    assert (status, latency < 0.5) == (200, True), latency
    deadline = time.monotonic() + 4 * HEADER_TIMEOUT_S
    closed = [closed_at(sock, deadline) for sock in [*stalled, kept]]
    assert None not in closed, "a half-sent request outlived the header timeout"
    lived = [c - started for c in closed[:-1] if c is not None]
    assert min(lived) > HEADER_TIMEOUT_S - 0.1 and max(lived) < HEADER_TIMEOUT_S + 1, lived
    assert HEADER_TIMEOUT_S - 0.1 < (closed[-1] or 0) - kept_started < HEADER_TIMEOUT_S + 1
    assert healthz(port, CLIENT)[0] == 200


@pytest.mark.slow
def test_a_slow_but_completing_client_is_not_cut(livecart_serve: ServerProcess) -> None:
    """Each request gets the whole deadline: a kept-alive connection may live longer."""
    sock = dial(livecart_serve.port)
    opened = time.monotonic()
    for _request in range(3):
        for piece in (HEALTHZ[:10], HEALTHZ[10:30], HEALTHZ[30:]):
            sock.sendall(piece)
            time.sleep(HEADER_TIMEOUT_S / 4)  # the client's pace, not a wait for the server
        assert read_response(sock).startswith(b"HTTP/1.1 200")
    assert time.monotonic() - opened > 2 * HEADER_TIMEOUT_S  # outlived one deadline
    sock.close()


@pytest.mark.slow
def test_connections_beyond_the_cap_from_one_address_are_refused(
    livecart_serve: ServerProcess,
) -> None:
    port = livecart_serve.port
    held = [dial(port) for _ in range(CAP)]
    for sock in held:  # each answered, so each was accepted and counted
        sock.sendall(HEALTHZ)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
    over = dial(port)
    with contextlib.suppress(OSError):
        over.sendall(HEALTHZ)
    answer = b""
    with contextlib.suppress(ConnectionResetError):
        answer = over.recv(4096)
    assert not answer.startswith(b"HTTP/1.1 200"), answer
    assert seconds_until_closed(over, 2) is not None
    # Another address is served meanwhile, and the trusted proxy address is not capped.
    assert healthz(port, OTHER)[0] == 200
    assert healthz(port, "127.0.0.1")[0] == 200
    # One closes; its place is free again.
    held[0].sendall(HEALTHZ.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert seconds_until_closed(held[0], 2) is not None
    assert again_within(port, 2.0) == 200
    for sock in held:
        sock.close()


def again_within(port: int, seconds: float) -> int:
    """Status of /healthz from the capped address once the server has seen a close."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return healthz(port, CLIENT)[0]
        except (ConnectionError, http.client.RemoteDisconnected):
            if time.monotonic() > deadline:
                raise


@pytest.mark.slow
def test_plain_uvicorn_gets_the_header_timeout(sqlite_template: Path, tmp_path: Path) -> None:
    env = process_env(copied_settings(sqlite_template, tmp_path), **LIMITED)
    with plain_uvicorn(env, tmp_path) as port:
        stalled = dial(port)
        stalled.sendall(HALF_SENT)
        assert healthz(port, OTHER)[0] == 200
        waited = seconds_until_closed(stalled, 4 * HEADER_TIMEOUT_S)
        assert waited is not None and waited < 2 * HEADER_TIMEOUT_S + 0.5


async def test_websockets_count_against_the_cap_and_release_on_close(
    settings: Settings,
) -> None:
    """In process, to read the count; the blocking socket calls run in a thread."""
    capped = replace(settings, max_connections_per_address=2, presence_interval_s=0.1)
    async with serve(capped) as server:
        async with http_client(server.url, timeout=10) as http:
            owner = await Rest(http).register("cara", "creator")
            live = await Rest(http).live(owner, start=True)
        url = server.ws_url(live["id"])
        async with (
            connect(url, local_addr=(CLIENT, 0)) as first,
            connect(url, local_addr=(CLIENT, 0)) as second,
        ):
            await snapshot(first)
            await snapshot(second)
            assert OPEN.open_from(CLIENT) == 2
            third = await asyncio.to_thread(dial, server.port)
            assert await asyncio.to_thread(seconds_until_closed, third, 2) is not None
            await first.close()
            await viewers_count(second, 1)  # the server let ``first`` go
            assert OPEN.open_from(CLIENT) == 1
            assert (await asyncio.to_thread(healthz, server.port, CLIENT))[0] == 200
    assert OPEN.open_from(CLIENT) == 0


@pytest.mark.parametrize("protocol", ["LivecartHttpToolsProtocol", "LivecartH11Protocol"])
async def test_both_http_protocols_time_out_headers_and_count_upgrades(
    settings: Settings, protocol: str
) -> None:
    quick = replace(settings, header_timeout_s=0.5, max_connections_per_address=5)
    async with serve(quick, http=f"app.httpproto:{protocol}") as server:
        closed = await asyncio.to_thread(keep_alive_then_stall, server.port, 0.5)
        assert 0.4 < closed < 1.5, closed
        assert OPEN.open_from(CLIENT) == 0
        # An upgrade hands the count over to the WebSocket protocol, which releases it.
        async with connect(server.ws_url(999), local_addr=(CLIENT, 0)) as ws:
            assert OPEN.open_from(CLIENT) == 1
            await ws.wait_closed()  # unknown live: the server closes (4404)
        assert OPEN.open_from(CLIENT) == 0


def keep_alive_then_stall(port: int, timeout: float) -> float:
    """Two requests on one connection, the second sent slowly over more than ``timeout``
    in all but each piece in time; then a third that stalls: seconds until it is closed."""
    sock = dial(port)
    sock.sendall(HEALTHZ)
    assert read_response(sock).startswith(b"HTTP/1.1 200")
    for piece in (HEALTHZ[:20], HEALTHZ[20:]):
        time.sleep(timeout * 0.6)  # the client's pace: within the deadline of its request
        sock.sendall(piece)
    assert read_response(sock).startswith(b"HTTP/1.1 200")
    sock.sendall(HALF_SENT)
    waited = seconds_until_closed(sock, 4 * timeout)
    sock.close()
    assert waited is not None, "a stalled request on a kept-alive connection stayed open"
    return waited
