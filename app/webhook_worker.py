"""Running webhook deliveries: in every ``livecart worker`` (with Redis), or in the one
process when there is no Redis — never in a web process that has workers beside it."""

from __future__ import annotations

import contextlib
import logging

from app.commerce import Commerce
from app.settings import Settings
from checkout.loops import Loops
from checkout.webhook_delivery import Deliverer, Sender
from common.tasks import STOP_WAIT_S, close_within

IDLE_S = 0.5  # how often an idle process looks for due deliveries

# The HTTP client logs every request at INFO: one line per delivery is noise here (the
# attempts are in the database, shown by GET /api/webhooks/{id}/deliveries).
logging.getLogger("httpx2").setLevel(logging.WARNING)


class WebhookLoop(Loops):
    """A ``Deliverer`` run as a background loop; ``stop`` lets sends in flight finish
    for at most ``STOP_WAIT_S`` (the rest are sent again once their lease expires)."""

    def __init__(self, deliverer: Deliverer) -> None:
        super().__init__(IDLE_S)
        self.deliverer = deliverer
        deliverer.on_done = self.poke

    async def start(self) -> None:
        self.spawn(self.deliverer.run_once, "livecart-webhooks")

    async def stop(self) -> None:
        await super().stop()
        await self.deliverer.drain(within=STOP_WAIT_S)
        await close_within(self.deliverer.sender.close, "webhook client")


def webhooks_may_reach_local(settings: Settings) -> bool:
    """Development, or an operator who said so: private and local addresses are fine."""
    return settings.env != "production" or settings.webhook_private_ok


async def start_webhooks(
    commerce: Commerce, settings: Settings, stack: contextlib.AsyncExitStack
) -> WebhookLoop:
    """Deliver from this process until ``stack`` closes; local addresses are reachable in
    development only."""
    sender = Sender(allow_local=webhooks_may_reach_local(settings),
                    timeout_s=settings.webhook_timeout_s)  # fmt: skip
    loop = WebhookLoop(Deliverer(commerce.transaction, sender))
    await loop.start()
    stack.push_async_callback(loop.stop)
    return loop
