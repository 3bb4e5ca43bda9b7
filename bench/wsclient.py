"""A minimal raw-asyncio WebSocket client and the load generator process built on it.

Why not the ``websockets`` client: 10,000 connections must fit in one client
process with little and, above all, *identical* overhead whatever server is
measured. This client is an ``asyncio.Protocol`` per connection and nothing
else: the opening handshake is written by hand with a fixed
``Sec-WebSocket-Key``, server frames (never masked) are parsed in
``data_received``, pings are answered with a masked pong, and the close
handshake is done properly (masked close frame, wait for the server's close
and its FIN).

The receive time of a frame is taken with ``time.time_ns()`` as the first
thing in ``data_received``, before any parsing; frames are kept raw and only
decoded after the measurement, so parsing one viewer's frame never delays the
timestamp of the next.

Join latency is measured per viewer on the monotonic clock: from just before
its TCP connect starts (``loop.create_connection``) to the ``data_received``
call that completes its first WebSocket frame (the ``snapshot``). A viewer that
does not get there is classified (``classify``): ``refused``, ``reset``,
``close <code>`` (the server sent a close frame first, e.g. ``close 1013``),
``http <status>`` (the upgrade was answered with something else than 101),
``eof`` (TCP closed without a close frame), ``timeout (connect)`` /
``timeout (snapshot)`` (before / after the TCP connect completed),
``connect error <errno>``.

``ControlSocket`` is a blocking client for the reference servers' ``/control``
socket; the load generator process built on ``Viewer`` is ``bench.loadgen``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import json
import socket
import struct
import time

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the RFC 6455 example key: fixed, so every request is identical
ACCEPT = base64.b64encode(
    hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
)
MASK = b"\x37\xfa\x21\x3d"  # fixed masking key: client overhead is the same for every server

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

PIN_MARK = b'"type":"pinned"'
SNAPSHOT_MARK = b'"type":"snapshot"'


def handshake_request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode()


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One masked, unfragmented client frame (payloads here are always small)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        key = (MASK * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return header + MASK + payload


CLOSE_1000 = client_frame(OP_CLOSE, struct.pack("!H", 1000))


class JoinError(ConnectionError):
    """A viewer that did not get its first frame; ``kind`` is its class (see ``classify``)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def classify(exc: BaseException, connected: bool) -> str:
    """A short failure class for a viewer that never got its first frame."""
    if isinstance(exc, JoinError):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout (snapshot)" if connected else "timeout (connect)"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno:
        return f"connect error {errno.errorcode.get(exc.errno, exc.errno)}"
    return type(exc).__name__


class Tally:
    """Counts, without polling, the measured viewers that got the pin or went away."""

    __slots__ = ("done", "gone", "pins", "target")

    def __init__(self) -> None:
        self.pins = 0
        self.gone = 0
        self.target = 0
        self.done = asyncio.Event()

    def check(self) -> None:
        if self.target and self.pins + self.gone >= self.target:
            self.done.set()


class Viewer(asyncio.Protocol):
    """One WebSocket viewer. Records when its first ``pinned`` frame arrived."""

    __slots__ = (
        "_buf",
        "_frag",
        "_request",
        "close_code",
        "close_received",
        "close_sent",
        "connected_ns",
        "join_ns",
        "lost",
        "open",
        "pin_ns",
        "pin_payload",
        "pings",
        "ready",
        "started_ns",
        "tally",
        "transport",
    )

    def __init__(
        self,
        request: bytes,
        ready: asyncio.Future[None] | None,
        tally: Tally | None = None,
        started_ns: int = 0,
    ) -> None:
        self._request = request  # only until connection_made
        self._buf = b""
        self._frag: bytes | None = None
        self.transport: asyncio.Transport | None = None
        self.ready = ready  # resolved on the first server message (the snapshot)
        self.open = False
        self.close_sent = False
        self.close_received = False
        self.close_code: int | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pings = 0
        self.pin_ns = 0
        self.pin_payload = b""
        self.tally = tally
        # monotonic ns: connect started (by the caller), TCP connected, first frame complete
        self.started_ns = started_ns
        self.connected_ns = 0
        self.join_ns = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connected_ns = time.monotonic_ns()
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]
        self._request = b""

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()  # first: the receive time must not include our own parsing
        if self.ready is not None:  # until the first frame: kept from the chunk completing it
            self.join_ns = time.monotonic_ns()
        buf = self._buf + data if self._buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 16384:
                    self._fail(ConnectionError("handshake response too long"))
                self._buf = buf
                return
            response = buf[:end]
            if not response.startswith(b"HTTP/1.1 101") or ACCEPT not in response:
                status = response.split(b" ", 2)[1:2]
                kind = f"http {status[0].decode(errors='replace')}" if status else "bad response"
                self._fail(JoinError(kind, repr(response[:80])))
                return
            self.open = True
            buf = buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", buf, pos + 2)
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            if b1 & 0x80:  # a masked server frame is a protocol error; tolerate it anyway
                head += 4
            if size - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            if b1 & 0x80:
                mask = buf[pos + head - 4 : pos + head]
                key = (mask * (length // 4 + 1))[:length]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
                    length, "big"
                )
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload, now)
        self._buf = buf[pos:] if pos < size else b""

    def _frame(self, fin: int, opcode: int, payload: bytes, now: int) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self._message(payload, now)
            else:
                self._frag = payload
        elif opcode == OP_CONT:
            self._frag = (self._frag or b"") + payload
            if fin:
                message, self._frag = self._frag, None
                self._message(message, now)
        elif opcode == OP_PING:
            self.pings += 1
            if not self.close_sent and self.transport is not None:
                self.transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_received = True
            if len(payload) >= 2:
                (self.close_code,) = struct.unpack_from("!H", payload)
            if self.ready is not None:  # refused after the upgrade, before the first frame
                ready, self.ready = self.ready, None
                if not ready.done():
                    code = self.close_code if self.close_code is not None else "(no code)"
                    ready.set_exception(JoinError(f"close {code}", repr(payload[2:80])))
            if not self.close_sent and self.transport is not None:
                self.close_sent = True  # echo the server's close; it then closes TCP
                self.transport.write(client_frame(OP_CLOSE, payload[:2]))

    def _message(self, payload: bytes, now: int) -> None:
        if self.ready is not None:
            ready, self.ready = self.ready, None
            if not ready.done():
                if SNAPSHOT_MARK in payload[:48]:
                    ready.set_result(None)
                else:
                    ready.set_exception(JoinError("not a snapshot", repr(payload[:60])))
            return
        if not self.pin_ns and PIN_MARK in payload[:48]:
            self.pin_ns = now
            self.pin_payload = payload
            if self.tally is not None:
                self.tally.pins += 1
                self.tally.check()

    def _fail(self, exc: Exception) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(exc)
        self.ready = None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(exc or JoinError("eof", "TCP closed before the first frame"))
        self.ready = None
        if not self.lost.done():
            self.lost.set_result(None)
            if self.tally is not None and not self.pin_ns:
                self.tally.gone += 1
                self.tally.check()

    def close(self) -> None:
        """Start the closing handshake (the server answers and closes TCP)."""
        if self.transport is None or self.lost.done():
            return
        if not self.close_sent:
            self.close_sent = True
            self.transport.write(CLOSE_1000)

    def pin_latency_ms(self) -> float | None:
        if not self.pin_ns:
            return None
        ts: int = json.loads(self.pin_payload)["ts"]
        return self.pin_ns / 1e6 - ts

    def join_ms(self) -> float | None:
        """Connect start to the first frame (monotonic), if it came."""
        if not (self.started_ns and self.join_ns) or self.ready is not None:
            return None
        return (self.join_ns - self.started_ns) / 1e6

    def tcp_ms(self) -> float | None:
        """Connect start to TCP connected (monotonic)."""
        if not (self.started_ns and self.connected_ns):
            return None
        return (self.connected_ns - self.started_ns) / 1e6


async def open_viewer(
    host: str,
    port: int,
    path: str,
    timeout: float,  # noqa: ASYNC109 (covers the connect and the snapshot)
    tally: Tally | None = None,
) -> tuple[asyncio.Transport, Viewer]:
    """Connect one viewer and wait for its first frame (the snapshot).

    Any failure is raised as a ``JoinError`` whose ``kind`` is from ``classify``
    (``timeout (connect)`` if TCP never connected, ``timeout (snapshot)`` if it
    did), chained to the original exception.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    request = handshake_request(host, port, path)
    made: list[Viewer] = []
    started = time.monotonic_ns()

    def factory() -> Viewer:
        made.append(Viewer(request, ready, tally, started))
        return made[0]

    try:
        async with asyncio.timeout(timeout):
            transport, proto = await loop.create_connection(factory, host, port)
            await ready
    except Exception as exc:
        if not ready.done():
            ready.cancel()  # nothing may set it later ("exception never retrieved")
        viewer = made[0] if made else None
        if viewer is not None:
            viewer.tally = None  # never joined: not one of the viewers a pin waits for
            if viewer.transport is not None:
                viewer.transport.abort()
        connected = viewer is not None and viewer.connected_ns > 0
        raise JoinError(classify(exc, connected), str(exc)[:120]) from exc
    return transport, proto


class ControlSocket:
    """A blocking WebSocket client for the references' ``/control`` socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(handshake_request("127.0.0.1", port, "/control"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("control socket closed during handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
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
        self.sock.sendall(client_frame(OP_TEXT, text.encode()))

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
            if opcode == OP_PING:
                self.sock.sendall(client_frame(OP_PONG, payload))
            elif opcode == OP_TEXT:
                return payload.decode()
            elif opcode == OP_CLOSE:
                raise ConnectionError("control socket closed by the server")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(CLOSE_1000)
            self.sock.settimeout(2)
            while self.sock.recv(4096):
                pass
        self.sock.close()
