"""Webhook rules with no I/O: the events, the signature, the retry schedule, and which
addresses a delivery may reach.

Signature (Stripe's scheme, so receivers can reuse known verification code): header
``Livecart-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
computed over the exact body bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import secrets
from datetime import timedelta

EVENTS = ("order.placed", "order.updated", "stock.changed", "auction.ended")
SIGNATURE_HEADER = "Livecart-Signature"
RETRY_FOR = timedelta(hours=24)  # a delivery is retried this long, then failed
DISABLE_AFTER = timedelta(hours=24)  # an endpoint failing this long is disabled
FIRST_RETRY_S = 5.0
LONGEST_WAIT_S = 3600.0
TOLERANCE_S = 300  # how old a signature a receiver should accept (replays)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def signature(secret: str, body: bytes, t: int) -> str:
    """The ``Livecart-Signature`` header value for ``body`` sent at unix time ``t``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance_s: int = TOLERANCE_S
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, made within ``tolerance_s``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance_s:
        return False
    expected = signature(secret, body, t).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_s(attempt: int, rng: random.Random | None = None) -> float:
    """The wait before retry ``attempt`` (1 = the first retry): doubling from 5 s up to an
    hour, each drawn between half and all of that (jitter: retries of many deliveries
    that failed together do not come back together)."""
    ceiling = min(LONGEST_WAIT_S, FIRST_RETRY_S * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def address_allowed(address: Address, *, allow_local: bool) -> bool:
    """Whether a delivery may connect to ``address``: in production never loopback,
    private, link-local (cloud metadata: 169.254.169.254), shared (100.64/10), multicast,
    reserved or unspecified addresses; ``allow_local`` (development) lets them all."""
    if allow_local:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    shared = isinstance(address, ipaddress.IPv4Address) and address in _SHARED
    return not (address.is_loopback or address.is_private or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified
                or shared)  # fmt: skip


_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
