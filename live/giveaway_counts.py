"""A giveaway's running entry count, told to its live at most once a second.

Entries are not broadcast one by one: ten thousand in a second would be ten thousand
events to every viewer. Once entries commit in a process, it announces the count —
``giveaway_entries {giveaway_id, entries}``, with a seq — at once, then at most once
every ``every_s`` while more come, and a last time after the last ones: the count
viewers see trails the truth by at most ``every_s`` (plus a transaction). Each count is
read under the live's row lock, so in seq order the counts never go down, whatever the
number of processes, and none follows the ``giveaway_ended`` of its giveaway (the draw
takes the same lock). Guarantees: at most one announcement per ``every_s`` per giveaway
per process; a failed one is logged and retried with the next entries.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import select

from common.tasks import cancel_and_wait
from live import pins
from live.giveaways import OPEN, count_entries
from live.models import Giveaway
from live.publisher import Publisher

log = logging.getLogger("livecart.giveaways")


class EntryCounter:
    def __init__(self, publisher: Publisher, *, every_s: float = 1.0) -> None:
        self.publisher = publisher
        self.every_s = every_s
        self._tellers: dict[int, asyncio.Task[None]] = {}
        self._more: set[int] = set()  # giveaways with entries since their last announcement

    def entered(self, giveaway_id: int) -> None:
        """Entries to ``giveaway_id`` committed here: announce the count soon."""
        self._more.add(giveaway_id)
        if giveaway_id not in self._tellers:
            self._tellers[giveaway_id] = asyncio.create_task(
                self._tell_while_entering(giveaway_id), name=f"livecart-entries-{giveaway_id}"
            )

    async def stop(self) -> None:
        await cancel_and_wait(list(self._tellers.values()), what="giveaway entry counts")

    async def _tell_while_entering(self, giveaway_id: int) -> None:
        try:
            while giveaway_id in self._more:
                self._more.discard(giveaway_id)
                try:
                    await self.tell(giveaway_id)
                except Exception as exc:
                    log.warning("entry count of giveaway %s not told: %r", giveaway_id, exc)
                await asyncio.sleep(self.every_s)
        finally:
            self._tellers.pop(giveaway_id, None)

    async def tell(self, giveaway_id: int) -> bool:
        """Announce the giveaway's entry count now; False when it is drawn (or gone)."""
        async with self.publisher.transaction() as batch:
            session = batch.session
            live_id = (
                await session.exec(select(Giveaway.live_id).where(Giveaway.id == giveaway_id))
            ).first()
            if live_id is None:
                return False
            await pins.lock_live(session, live_id)  # then the status and count, as they are
            status = (
                await session.exec(select(Giveaway.status).where(Giveaway.id == giveaway_id))
            ).one()
            if status != OPEN:
                return False
            entries = await count_entries(session, giveaway_id)
            await batch.append(
                live_id, "giveaway_entries", {"giveaway_id": giveaway_id, "entries": entries}
            )
            return True
