"""Housekeeping beside the fulfillment queue: forgetting old Idempotency-Keys."""

from __future__ import annotations

import asyncio
import logging

from checkout import orders
from checkout.loops import Loops
from checkout.ports import Transactions

log = logging.getLogger("livecart.fulfillment")

HOUSEKEEPING_S = 600.0


def spawn_housekeeping(loops: Loops, transactions: Transactions) -> None:
    """Every ten minutes: forget Idempotency-Keys past their 48 hours."""

    async def step() -> bool:
        await asyncio.sleep(HOUSEKEEPING_S)
        async with transactions() as uow:
            removed = await orders.prune_idempotency_keys(uow.session)
        if removed:
            log.info("forgot %d old Idempotency-Keys", removed)
        return True  # the sleep above paces it

    loops.spawn(step, "livecart-housekeeping", finish=False)  # it mostly sleeps
