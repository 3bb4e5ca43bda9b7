"""Fulfillment wiring: how placed orders reach the consumer that accepts them.

With Redis, web processes relay the outbox to the fulfillment stream and
``livecart worker`` consumes it; without Redis, each web process consumes its own
outbox. Either way ``hand_over`` gives new orders a head start after their commit;
the outbox relay takes whatever it misses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Sequence

from redis.asyncio import Redis

from app.commerce import Commerce
from checkout.desk import OnPlaced
from checkout.orders import OrderLike
from checkout.queue import LocalConsumer, StreamQueue

log = logging.getLogger("livecart.orders")


def process_name() -> str:
    """This process, as the stream's consumer names and logs know it."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def start_fulfillment(
    commerce: Commerce, redis: Redis | None, stack: contextlib.AsyncExitStack
) -> tuple[StreamQueue | None, LocalConsumer | None]:
    """With Redis: relay the outbox to the stream (workers consume). Without: consume here.
    ``stack`` stops what was started."""
    if redis is not None:
        queue = StreamQueue(redis, commerce.transaction, consumer=process_name())
        await queue.start(relay=True, consume=False)
        stack.push_async_callback(queue.stop)
        return queue, None
    local = LocalConsumer(commerce.transaction)
    await local.start()
    stack.push_async_callback(local.stop)
    return None, local


def hand_over(queue: StreamQueue | None, local: LocalConsumer | None) -> OnPlaced:
    """After commit: new orders onto the Redis stream, or a nudge to the local consumer."""

    async def to_fulfillment(placed: Sequence[OrderLike]) -> None:
        ids = [order.id or 0 for order in placed]
        if local is not None:
            local.poke()
        if queue is None:
            return
        try:
            await queue.push(ids)
        except Exception as exc:  # Redis unreachable: the relay takes them once it is back
            log.warning("orders %s not pushed to the queue (%r); left to the relay", ids, exc)
            try:
                await queue.unmark(ids)
            except Exception:  # the outbox still has them: resent after redeliver_after
                log.exception("could not hand orders %s back to the relay", ids)

    return to_fulfillment
