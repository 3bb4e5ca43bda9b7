"""Chat messages written in batches: one transaction per live at a time, however many come.

A message joins its live's queue; if no batch is being written for that live, one
starts. A batch takes every message queued so far (up to ``max_batch``), in arrival
order: their rows in one INSERT and their ``chat`` events under one seq update, in one
transaction (group commit). A comment storm — five hundred buyers typing ``sold`` in the
same second — then costs a few transactions instead of five hundred queued on the live's
row lock, each holding a database connection while it waits.

Guarantees: every message gets exactly one answer, its committed row (its event
published) or the error that failed its batch (nothing of that batch was written); a
live's messages take seqs in the order this process queued them.
"""

from __future__ import annotations

from typing import Any

from common.lanes import Lanes
from common.times import iso_utc, utcnow
from live.models import ChatMessage
from live.pins import Actor
from live.publisher import Publisher


def message_view(message: ChatMessage) -> dict[str, Any]:
    """The ``chat`` event's data."""
    return {
        "id": message.id,
        "user": {"id": message.user_id, "username": message.username},
        "text": message.text,
        "at": iso_utc(message.created_at),
    }


class ChatDesk:
    def __init__(self, publisher: Publisher, *, max_batch: int = 200) -> None:
        self.publisher = publisher
        self._lanes: Lanes[int, tuple[Actor, str], ChatMessage] = Lanes(
            self._one_batch, max_batch=max_batch, name="chat"
        )

    async def write(self, live_id: int, sender: Actor, text: str) -> ChatMessage:
        """Store and publish one (already checked) message; returns its row."""
        return await self._lanes.submit(live_id, (sender, text))

    async def stop(self) -> None:
        """Cancel the batches being written (their senders get ``CancelledError``)."""
        await self._lanes.stop()

    async def _one_batch(self, live_id: int, waiting: list[tuple[Actor, str]]) -> list[ChatMessage]:
        now = utcnow()
        rows = [
            ChatMessage(live_id=live_id, user_id=sender.id, username=sender.username, text=text,
                        created_at=now)
            for sender, text in waiting
        ]  # fmt: skip
        async with self.publisher.transaction() as batch:
            batch.session.add_all(rows)
            await batch.session.flush()
            await batch.append_many(live_id, [("chat", message_view(r)) for r in rows])
        return rows
