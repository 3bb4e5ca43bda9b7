"""Ends flash deals on time, in every process, even when no request arrives.

Each process sleeps until the earliest running deal's ``ends_at`` (polling at
least every ``poll_s`` for deals pinned through other processes) and then ends
what is due. Ending is a conditional UPDATE, so however many processes wake up
for the same deal, exactly one ``deal_ended {reason: "expired"}`` is published.
After a restart the first pass ends whatever expired while the server was down.
"""

from __future__ import annotations

import logging

from common.deadlines import DeadlineLoop, sleep_until
from common.times import utcnow
from live import pins
from live.hub import Hub

log = logging.getLogger("livecart.deals")


class DealClock(DeadlineLoop):
    name = "deal clock"

    def __init__(self, hub: Hub, *, poll_s: float = 1.0) -> None:
        super().__init__(log, poll_s=poll_s)
        self.hub = hub

    async def run_once(self) -> float:
        """End what is due; return how long to sleep before the next look."""
        async with self.hub.sessions.read() as session:
            due = await pins.next_deal_deadline(session)
        now = utcnow()
        if due is not None and due <= now:
            async with self.hub.transaction() as batch:
                await pins.expire_due_deals(batch, now)
        return sleep_until(due, now, self.poll_s)
