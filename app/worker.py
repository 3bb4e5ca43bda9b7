"""``livecart worker``: takes orders off the Redis fulfillment stream.

Runs the outbox relay and a stream consumer (XREADGROUP, XACK after commit,
XAUTOCLAIM-style takeover of a dead worker's entries, dead letters). Order
frames reach buyers through the broker, whichever web process holds their
sockets. ``--simulate`` also walks accepted orders through picking, packing,
shipping and delivery on a timer, for demos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from sqlmodel import col, select

from app import commerce, migrate
from app.db import Database
from app.factory import process_name
from app.payments import payment_provider
from app.settings import Settings
from checkout import states
from checkout.models import Order, OrderStatus
from checkout.ports import PaymentProvider
from checkout.queue import StreamQueue
from live.backends import broker_for
from live.hub import Hub
from live.redis_broker import redis_client

log = logging.getLogger("livecart.worker")

# The simulator's walk: each status and the one it moves to next.
_SIMULATED = {
    OrderStatus.ACCEPTED: OrderStatus.PICKING,
    OrderStatus.PICKING: OrderStatus.PACKED,
    OrderStatus.PACKED: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}


async def simulate_step(hub: Hub, payments: PaymentProvider, limit: int = 100) -> int:
    """Move up to ``limit`` orders one step along accepted → … → delivered."""
    async with hub.sessions.read() as session:
        found = (
            await session.exec(
                select(Order.id, Order.status)
                .where(col(Order.status).in_([s.value for s in _SIMULATED]))
                .order_by(col(Order.id))
                .limit(limit)
            )
        ).all()
    moved = 0
    for order_id, status in found:
        to = _SIMULATED[OrderStatus(status)]
        try:
            async with commerce.transaction(hub) as unit:
                await states.transition(
                    unit.session, order_id or 0, to, by="simulator",
                    effects=states.Effects(payments, unit.deals, unit.announcer),
                    carrier="SIM" if to == OrderStatus.SHIPPED else None,
                    tracking_number=f"SIM{order_id:08d}" if to == OrderStatus.SHIPPED else None,
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
    if not settings.redis_url:
        raise RuntimeError("livecart worker needs REDIS_URL")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    db = Database.from_url(settings.database_url)
    redis = redis_client(settings.redis_url)
    hub = Hub(broker_for(settings.redis_url), db)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        stack.push_async_callback(redis.aclose)
        await migrate.upgrade(db.engine)
        await hub.start()
        stack.push_async_callback(hub.stop)
        queue = StreamQueue(
            redis, lambda: commerce.transaction(hub), consumer=f"worker:{process_name()}",
            claim_idle_ms=settings.queue_claim_idle_ms, max_attempts=settings.queue_max_attempts,
        )  # fmt: skip
        await queue.start(relay=True, consume=True)
        stack.push_async_callback(queue.stop)
        log.info("fulfillment worker %s running", queue.consumer)
        payments = payment_provider(settings)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), step_s if simulate else 3600)
            if simulate and not stop.is_set():
                await simulate_step(hub, payments)
        log.info("fulfillment worker stopping")
