"""uvicorn's HTTP protocols with a request-header deadline and a per-address connection cap.

uvicorn times out idle keep-alive connections, but not a request whose headers never
finish: a client that sends half a request holds its connection (a file descriptor)
forever, and a few thousand of them exhaust the process. Here:

* a connection's request headers must be complete within ``header_timeout_s`` of the
  connection opening, or of the first byte of a later request on a keep-alive
  connection; otherwise the connection is closed. (Between requests uvicorn's own
  keep-alive timeout still applies.)
* one peer address may hold ``per_address`` connections open in this process (HTTP and
  WebSocket alike); beyond it a new connection gets a bare 503 and is closed at once.
  Trusted proxies (``--forwarded-allow-ips``) are exempt: all their clients share their
  address, and the viewer-socket cap (app/admission.py) counts forwarded addresses.

Used by ``livecart serve`` (``uvicorn_options``) and installed into a plain
``uvicorn app.main:app`` left on ``--http auto`` (``adopt_uvicorn``); the limits come
from the app's settings at lifespan start, before the server listens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import _TrustedHosts
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.connections import OPEN
from app.wsproto import LivecartWebSocketProtocol

log = logging.getLogger("livecart")

LIMITS_ATTRIBUTE = "livecart_limits"
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 36\r\nretry-after: 10\r\nconnection: close\r\n\r\n"
    b"too many connections from this host\n"
)
# Refusals are logged at most this often: under a flood there is one per connection.
REFUSAL_LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class Limits:
    per_address: int = 1000
    header_timeout_s: float = 10.0
    # Peers exempt from the cap (uvicorn's trusted proxies); None: nobody.
    trusted: _TrustedHosts | None = None

    def caps(self, address: str) -> bool:
        return bool(self.per_address) and (self.trusted is None or address not in self.trusted)


def set_limits(config: Config, per_address: int, header_timeout_s: float) -> None:
    """Limits for the connections of the server running ``config``."""
    trusted = _TrustedHosts(config.forwarded_allow_ips) if config.proxy_headers else None
    setattr(config, LIMITS_ATTRIBUTE, Limits(per_address, header_timeout_s, trusted))


def limits_of(config: Config) -> Limits:
    limits: Limits | None = getattr(config, LIMITS_ATTRIBUTE, None)
    if limits is None:  # an app that never ran adopt_uvicorn: the default settings
        set_limits(config, Limits.per_address, Limits.header_timeout_s)
        limits = getattr(config, LIMITS_ATTRIBUTE)
    return limits


_last_refusal_log = 0.0


def _log_refusal(address: str, cap: int) -> None:
    global _last_refusal_log
    now = time.monotonic()
    if now - _last_refusal_log >= REFUSAL_LOG_EVERY_S:
        _last_refusal_log = now
        log.warning("refusing connections from %s: it holds %d open (the cap)", address, cap)


def _release_on_lost(protocol: Any, address: str) -> None:
    """A WebSocket protocol other than livecart's: release when its ``connection_lost`` runs."""
    lost = protocol.connection_lost

    def connection_lost(exc: Exception | None) -> None:
        try:
            lost(exc)
        finally:
            OPEN.leave(address)

    protocol.connection_lost = connection_lost


class ConnectionGuard(asyncio.Protocol):
    """The header deadline and the address count of one connection (mixed in before
    uvicorn's HTTP protocols, whose attributes are declared here)."""

    config: Config
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    flow: FlowControl

    _counted: str | None = None
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._admit()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def _admit(self) -> None:
        """After ``connection_made``: count the connection and start the header deadline,
        or refuse it."""
        limits = limits_of(self.config)
        address = self.client[0] if self.client else None
        if address is not None and limits.caps(address):
            if not OPEN.enter(address, limits.per_address):
                _log_refusal(address, limits.per_address)
                self.transport.write(REFUSED)
                self.transport.close()
                return
            self._counted = address
        self._start_header_deadline()

    def _start_header_deadline(self) -> None:
        if self._header_timer is None:
            timeout = limits_of(self.config).header_timeout_s
            self._header_timer = self.loop.call_later(timeout, self._headers_late)

    def _headers_done(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # A pipelined request waiting behind an earlier one is not the peer's delay.
            self._start_header_deadline()
            return
        self.transport.close()

    def _release(self) -> None:
        self._headers_done()
        if self._counted is not None:
            OPEN.leave(self._counted)
            self._counted = None

    def _hand_over(self) -> None:
        """Upgraded: the WebSocket protocol now owns the transport, and the count."""
        self._headers_done()
        address, self._counted = self._counted, None
        if address is None:
            return
        protocol = self.transport.get_protocol()
        if isinstance(protocol, LivecartWebSocketProtocol):
            protocol.counted_address = address
        else:
            _release_on_lost(protocol, address)


class LivecartHttpToolsProtocol(ConnectionGuard, HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_deadline()  # a new request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._headers_done()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self._hand_over()


class LivecartH11Protocol(ConnectionGuard, H11Protocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        # h11 has no "request begins" event: IDLE with data received means a request's
        # headers are still arriving; any later state means they are complete.
        if self.conn.their_state is h11.IDLE:
            self._start_header_deadline()
        else:
            self._headers_done()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        super().handle_websocket_upgrade(event)
        self._hand_over()


try:
    import httptools  # noqa: F401
except ImportError:  # pragma: no cover - uvicorn's "auto" makes the same choice
    LivecartHttpProtocol: type[asyncio.Protocol] = LivecartH11Protocol
else:
    LivecartHttpProtocol = LivecartHttpToolsProtocol
