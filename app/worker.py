"""``livecart worker``: takes orders off the Redis fulfillment stream.

Runs the outbox relay and a stream consumer (XREADGROUP, XACK after commit,
takeover of a dead worker's entries with XPENDING + XCLAIM, dead letters). No hub:
order frames go out on Redis pub/sub (``live.publisher``) to whichever web process
holds their buyers' sockets. ``--simulate`` also walks accepted orders through
picking, packing, shipping and delivery on a timer, for demos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlmodel import col, select

from app import migrate
from app.commerce import Commerce
from app.db import Database
from app.fulfillment import process_name
from app.payments import payment_provider
from app.routes.orders import order_answer
from app.settings import Settings
from app.stopping import Stopping
from app.webhook_worker import start_webhooks
from checkout import states
from checkout.models import Order, OrderStatus
from checkout.ports import PaymentProvider
from checkout.queue import StreamQueue
from checkout.waitlist import Serving
from common.tasks import close_within
from live.publisher import Publisher
from live.redis_broker import RedisOutlet, redis_client

log = logging.getLogger("livecart.worker")

# The simulator's walk: each status and the one it moves to next.
_SIMULATED = {
    OrderStatus.ACCEPTED: OrderStatus.PICKING,
    OrderStatus.PICKING: OrderStatus.PACKED,
    OrderStatus.PACKED: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}


async def simulate_step(commerce: Commerce, payments: PaymentProvider, limit: int = 100) -> int:
    """Move up to ``limit`` orders one step along accepted → … → delivered."""
    async with commerce.publisher.sessions.read() as session:
        found = (
            await session.exec(
                select(Order.id, Order.status)
                .where(col(Order.status).in_([s.value for s in _SIMULATED]))
                .order_by(col(Order.id))
                .limit(limit)
            )
        ).all()
    moved = 0
    serving = Serving(payments, order_answer)
    for order_id, status in found:
        to = _SIMULATED[OrderStatus(status)]
        try:
            async with commerce.transaction() as unit:
                await states.transition(
                    unit.session, order_id or 0, to, by="simulator",
                    effects=states.Effects(
                        payments, unit.deals, unit.announcer, serving, unit.calendar
                    ),
                    change=states.Change(
                        carrier="SIM", tracking_number=f"SIM{order_id:08d}"
                    ) if to == OrderStatus.SHIPPED else states.Change(),
                )  # fmt: skip
            moved += 1
        except Exception as exc:  # raced with staff or a cancellation: skip this one
            log.info("simulator skipped order %s: %r", order_id, exc)
    return moved


async def run_worker(
    settings: Settings,
    *,
    simulate: bool = False,
    step_s: float = 3.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set; without one, until SIGTERM or SIGINT (``app.stopping``:
    the stop is bounded in time, a second signal exits at once). Entries read but not
    yet acknowledged when it stops stay pending: the next worker reclaims them."""
    if not settings.redis_url:
        raise RuntimeError("livecart worker needs REDIS_URL")
    if stop is None:
        stop = signalled = asyncio.Event()
        loop = asyncio.get_running_loop()
        Stopping("livecart worker").install(lambda _sig: loop.call_soon_threadsafe(signalled.set))
    db = Database.from_url(settings.database_url)
    redis = redis_client(settings.redis_url)
    commerce = Commerce(Publisher(RedisOutlet(redis), db))
    async with contextlib.AsyncExitStack() as stack:
        # Every closer is bounded: a dead Redis or a stuck database cannot hold the exit.
        stack.push_async_callback(close_within, db.dispose, "database")
        stack.push_async_callback(close_within, redis.aclose, "redis")
        await migrate.upgrade(db.engine)
        queue = StreamQueue(
            redis, commerce.transaction, consumer=f"worker:{process_name()}",
            claim_idle_ms=settings.queue_claim_idle_ms, max_attempts=settings.queue_max_attempts,
        )  # fmt: skip
        await queue.start(relay=True, consume=True)
        stack.push_async_callback(queue.stop)
        webhooks = await start_webhooks(commerce, settings, stack)
        log.info("fulfillment worker %s running", queue.consumer)
        payments = payment_provider(settings)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step_s if simulate else None):
                    await stop.wait()
            if simulate and not stop.is_set():
                await simulate_step(commerce, payments)
        log.info("fulfillment worker stopping")
        for loops in (webhooks, queue):  # all end their steps together, then each stops
            loops.stopping()
