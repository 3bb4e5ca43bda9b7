"""Sending webhook deliveries: at least once, signed, retried for 24 h, never in a way
that slows orders or other endpoints.

Guarantees:

- **At least once, same id.** A delivery is leased (``locked_until``) while a worker
  sends it; a worker that dies mid-send leaves the lease to expire, and it is sent
  again. Its body — and so the event ``id`` — is the one written with the change.
- **In order per order.** Deliveries of one endpoint with the same key (an order, a
  product, an auction) go one at a time: a later one waits while an earlier is pending.
- **Bounded.** At most ``per_endpoint`` sends in flight per endpoint and ``total`` per
  process, each with ``timeout_s``: a hanging receiver holds only its own slots. Sends
  run in their own tasks, after and apart from any order's transaction. A stop waits
  for sends in flight for a bounded time; the rest go again after their lease.
- **Safe targets.** Only http(s); the host is resolved at every send and, unless local
  addresses are allowed (development), loopback, private, link-local, shared and
  reserved addresses are refused; the connection goes to the address checked (the Host
  header and TLS name stay the URL's). Redirects are not followed. Only a 200-character
  excerpt of an answer is kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx
from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.ports import Transactions
from checkout.webhook_models import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookStatus,
)
from checkout.webhook_rules import (
    DISABLE_AFTER,
    RETRY_FOR,
    SIGNATURE_HEADER,
    address_allowed,
    backoff_s,
    signature,
)
from checkout.webhooks import fail_pending
from common.tasks import cancel_and_wait
from common.times import utc, utcnow

log = logging.getLogger("livecart.webhooks")

EXCERPT = 200
Resolve = Callable[[str, int], Awaitable[list[str]]]


class Refused(Exception):
    """The URL may not be reached (scheme, address): the attempt fails without a send."""


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Job:
    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    body: str


Target = tuple[str, dict[str, str], dict[str, str]]


async def target(url: str, *, allow_local: bool, resolve: Resolve = resolve_host) -> Target:
    """Where a delivery to ``url`` connects (the checked address), its Host header and TLS
    name; ``Refused`` when the scheme is not http(s), the host does not resolve, or it
    resolves to an address a delivery may not reach."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http(s) URLs")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await resolve(parts.hostname, port)
    except OSError as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc.strerror or exc}") from None
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    if not addresses or not all(address_allowed(a, allow_local=allow_local)
                                for a in addresses):  # fmt: skip
        raise Refused(f"{parts.hostname} resolves to an address webhooks may not reach")
    first = addresses[0]
    host = f"[{first}]" if first.version == 6 else str(first)
    origin = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=f"{host}:{port}")), {"Host": origin}, extensions


class Sender:
    """One POST of a delivery to the address its URL resolves to (checked first)."""

    def __init__(self, *, allow_local: bool, timeout_s: float = 10.0,
                 resolve: Resolve = resolve_host) -> None:  # fmt: skip
        self.allow_local = allow_local
        self.timeout_s = timeout_s
        self.resolve = resolve
        self.client = httpx.AsyncClient(follow_redirects=False, timeout=timeout_s)

    async def close(self) -> None:
        await self.client.aclose()

    async def target(self, url: str) -> Target:
        return await target(url, allow_local=self.allow_local, resolve=self.resolve)

    async def send(self, job: Job) -> Outcome:
        started = time.monotonic()
        body = job.body.encode()
        try:
            url, headers, extensions = await self.target(job.url)
            signed = signature(job.secret, body, int(time.time()))
            headers |= {"Content-Type": "application/json", SIGNATURE_HEADER: signed,
                        "User-Agent": "livecart-webhooks/1"}  # fmt: skip
            resp = await self.client.post(url, content=body, headers=headers,
                                          extensions=extensions)  # fmt: skip
            excerpt = resp.text[:EXCERPT] if resp.content else None
            return Outcome(resp.status_code, None, excerpt, _ms(started))
        except Refused as exc:
            return Outcome(None, str(exc)[:EXCERPT], None, _ms(started))
        except httpx.TimeoutException:
            return Outcome(None, f"no answer within {self.timeout_s:g} s", None, _ms(started))
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:EXCERPT], None, _ms(started))


async def _heads(session: AsyncSession, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The oldest pending delivery of each (endpoint, key): only it may go now."""
    d = WebhookDelivery
    rows = await session.exec(
        sa_select(col(d.webhook_id), col(d.ordering_key), func.min(col(d.id)))
        .where(col(d.status) == DeliveryStatus.PENDING.value,
               col(d.webhook_id).in_({hook for hook, _k in pairs}),
               col(d.ordering_key).in_({key for _h, key in pairs}))
        .group_by(col(d.webhook_id), col(d.ordering_key))
    )  # type: ignore[call-overload]  # fmt: skip
    return {(hook, key): int(first) for hook, key, first in rows.all()}


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class Deliverer:
    """Claims due deliveries and sends each in its own task (see the module's guarantees)."""

    def __init__(self, transactions: Transactions, sender: Sender, *, per_endpoint: int = 2,
                 total: int = 32) -> None:  # fmt: skip
        self.transactions = transactions
        self.sender = sender
        self.per_endpoint = per_endpoint
        self.total = total
        # Longer than any send takes; a dead worker's sends are due again after it.
        self.lease = timedelta(seconds=2 * sender.timeout_s + 5)
        self.in_flight: dict[int, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Called when a send is recorded: the next delivery of its key (or a free slot)
        # may be claimed now, not at the next poll.
        self.on_done: Callable[[], None] = lambda: None
        self.finished = 0  # sends recorded so far

    async def run_once(self) -> bool:
        """Start sending what is due and fits in the free slots; True if it started any."""
        room = self.total - len(self.tasks)
        if room <= 0:
            return False
        finished = self.finished
        async with self.transactions() as uow:
            jobs = await self._claim(uow.session, room)
        for job in jobs:
            self.in_flight[job.webhook_id] = self.in_flight.get(job.webhook_id, 0) + 1
            task = asyncio.create_task(self._deliver(job), name=f"webhook-{job.delivery_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        # A send recorded meanwhile may have freed the next of its key: look again at once.
        return bool(jobs) or self.finished != finished

    async def drain(self, within: float) -> None:
        """Wait for the sends in flight at most ``within`` seconds (a stop), then cancel the
        rest: unrecorded, their leases expire and they are sent again (at least once) — a
        hanging receiver cannot hold a stopping worker."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=within)
        await cancel_and_wait(list(self.tasks), what="webhook sends")

    async def _claim(self, session: AsyncSession, room: int) -> list[Job]:
        """Lease up to ``room`` due deliveries, each the oldest pending of its key, within
        the endpoints' free slots. Plain indexed statements (a correlated anti-join let
        PostgreSQL's generic plans take 300 ms per pass at a few thousand rows)."""
        now, d, w = utcnow(), WebhookDelivery, Webhook
        query = (
            sa_select(col(d.id), col(d.webhook_id), col(d.ordering_key))
            .join(w, col(w.id) == col(d.webhook_id))
            .where(col(d.status) == DeliveryStatus.PENDING.value, col(d.next_attempt_at) <= now,
                   (col(d.locked_until).is_(None)) | (col(d.locked_until) < now),
                   col(w.status) == WebhookStatus.ACTIVE.value)
            .order_by(col(d.id)).limit(room * 4)
        )  # fmt: skip
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=d, skip_locked=True)
        due = (await session.exec(query)).all()  # type: ignore[call-overload]
        if not due:
            return []
        heads = await _heads(session, {(hook, key) for _i, hook, key in due})
        chosen: list[int] = []
        taken = dict(self.in_flight)
        for delivery_id, hook, key in due:
            if len(chosen) >= room or taken.get(hook, 0) >= self.per_endpoint:
                continue
            if heads.get((hook, key)) != delivery_id:  # an earlier one of its key is pending
                continue
            taken[hook] = taken.get(hook, 0) + 1
            chosen.append(delivery_id)
        if not chosen:
            return []
        await session.exec(
            update(d).where(col(d.id).in_(chosen)).values(locked_until=now + self.lease)
        )
        rows = await session.exec(
            sa_select(col(d.id), col(d.webhook_id), col(w.url), col(w.secret), col(d.body))
            .join(w, col(w.id) == col(d.webhook_id)).where(col(d.id).in_(chosen))
            .order_by(col(d.id))
        )  # type: ignore[call-overload]  # fmt: skip
        return [Job(i, hook, url, secret, body) for i, hook, url, secret, body in rows.all()]

    async def _deliver(self, job: Job) -> None:
        try:
            outcome = await self.sender.send(job)
            async with self.transactions() as uow:
                await record(uow.session, job, outcome)
        except Exception:  # the lease expires and it is sent again
            log.exception("webhook delivery %s: not recorded", job.delivery_id)
        finally:
            self.in_flight[job.webhook_id] -= 1
            self.finished += 1
            self.on_done()


async def record(session: AsyncSession, job: Job, outcome: Outcome) -> None:
    """The attempt, the delivery's next state, and the endpoint's health. The delivery is
    leased to this worker; the endpoint's row is changed only by conditional statements
    that never wait on the orders that are adding deliveries to it."""
    now = utcnow()
    session.add(WebhookAttempt(
        delivery_id=job.delivery_id, at=now, status_code=outcome.status_code,
        error=outcome.error, excerpt=outcome.excerpt, duration_ms=outcome.duration_ms,
    ))  # fmt: skip
    delivery = await session.get(WebhookDelivery, job.delivery_id)
    if delivery is None:
        return
    delivery.attempts += 1
    delivery.locked_until = None
    w = Webhook
    if outcome.ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED.value, now
        await session.exec(update(w).where(col(w.id) == job.webhook_id,
                                           col(w.failing_since).is_not(None))
                           .values(failing_since=None))  # fmt: skip
    else:
        if now - utc(delivery.created_at) >= RETRY_FOR:
            delivery.status = DeliveryStatus.FAILED.value
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
        await session.exec(update(w).where(col(w.id) == job.webhook_id,
                                           col(w.failing_since).is_(None))
                           .values(failing_since=now))  # fmt: skip
        await disable_if_failing(session, job.webhook_id, now)
    session.add(delivery)


async def disable_if_failing(session: AsyncSession, webhook_id: int, now: datetime) -> None:
    """Stop an endpoint that failed for a day; its pending deliveries fail with it."""
    w = Webhook
    stopped = await session.exec(
        update(w).where(col(w.id) == webhook_id, col(w.status) == WebhookStatus.ACTIVE.value,
                        col(w.failing_since) <= now - DISABLE_AFTER)
        .values(status=WebhookStatus.DISABLED.value, disabled_at=now)
    )  # fmt: skip
    if stopped.rowcount != 1:
        return
    await fail_pending(session, webhook_id)
    log.warning("webhook %s disabled: every delivery failed for %s", webhook_id, DISABLE_AFTER)
