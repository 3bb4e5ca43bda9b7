"""Calibration floor (not one of the compared servers): a raw asyncio fan-out, no framework.

    python bench/ref_floor.py --port 8767

Hand-written handshake, one ``asyncio.Protocol`` per connection and nothing
else per viewer; on ``pin`` (on ``/control``) the frame is encoded once and
``transport.write`` is called for every viewer. It shows what the load
generator can measure at best on this machine: with a server this lean, the
spread of receive times is mostly the client's (and the kernel's) own cost.
Run it with ``bench/fanout.py --variants ref-floor ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import struct

import uvloop
from refframes import pinned_frame, snapshot_frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
viewers: set[asyncio.Transport] = set()


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


class Conn(asyncio.Protocol):
    __slots__ = ("buf", "control", "open", "transport")

    def __init__(self) -> None:
        self.buf = b""
        self.open = False
        self.control = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buf = self.buf + data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
            path = head.split(" ", 2)[1]
            key = next(
                line.split(":", 1)[1].strip()
                for line in head.split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
            )
            self.open = True
            self.control = path == "/control"
            if not self.control:
                viewers.add(self.transport)
                self.transport.write(frame(0x1, snapshot_frame(len(viewers)).encode()))
        while len(buf) >= 6:  # client frames: masked, small
            length = buf[1] & 0x7F
            if length >= 126 or len(buf) < 6 + length:
                break
            mask, payload = buf[2:6], buf[6 : 6 + length]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode, buf = buf[0] & 0x0F, buf[6 + length :]
            if opcode == 0x8:
                viewers.discard(self.transport)
                self.transport.write(frame(0x8, payload[:2]))
                self.transport.close()
                return
            if opcode == 0x9:
                self.transport.write(frame(0xA, payload))
            elif opcode == 0x1 and self.control and payload == b"pin":
                wire = frame(0x1, pinned_frame().encode())
                for t in viewers:
                    t.write(wire)
                self.transport.write(frame(0x1, f"ok {len(viewers)}".encode()))
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        viewers.discard(self.transport)


async def main(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Conn, host, port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
