"""Who a live's joins must know about, kept in memory per process: its creator,
moderators and banned users.

A process loads a live's roster once, when it first serves that live (one
database read, which also gives the log's head). From then on the roster is
kept current by *control messages*: after a ban, unban or moderator change
commits, the process that made it publishes one on the live's broker channel,
and every process serving the live applies it. Control messages are never
shown to viewers and carry no ``seq``.

Guarantees: applying a message is idempotent, so messages that arrive while the
roster is being read are simply applied again after it; a process whose broker
connection dropped reloads its rosters (messages may have been lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from live.errors import LiveNotFound
from live.frames import dumps
from live.models import Live, LiveBan, LiveModerator

CONTROL_TYPE = "control"
OPS = frozenset({"ban", "unban", "moderator", "unmoderator"})


@dataclass
class Roster:
    creator_id: int
    moderators: set[int] = field(default_factory=set)
    banned: set[int] = field(default_factory=set)

    def is_staff(self, user_id: int) -> bool:
        """The live's own creator or a moderator: in the studio, not counted as a viewer."""
        return user_id == self.creator_id or user_id in self.moderators

    def apply(self, op: str, user_id: int) -> None:
        if op == "ban":
            self.banned.add(user_id)
        elif op == "unban":
            self.banned.discard(user_id)
        elif op == "moderator":
            self.moderators.add(user_id)
        elif op == "unmoderator":
            self.moderators.discard(user_id)


async def load(session: AsyncSession, live_id: int) -> tuple[Roster, int]:
    """The live's roster and its log head (``last_seq``); ``LiveNotFound`` if it does not exist."""
    live = await session.get(Live, live_id)
    if live is None:
        raise LiveNotFound("live not found")
    mods = await session.exec(select(LiveModerator.user_id).where(LiveModerator.live_id == live_id))
    bans = await session.exec(select(LiveBan.user_id).where(LiveBan.live_id == live_id))
    return Roster(live.creator_id, set(mods.all()), set(bans.all())), live.last_seq


def control_message(live_id: int, op: str, user_id: int) -> str:
    """The broker message announcing a committed roster change."""
    if op not in OPS:
        raise ValueError(op)
    data = {"op": op, "user_id": user_id}
    return dumps({"type": CONTROL_TYPE, "live_id": live_id, "seq": None, "data": data})


def parse_control(parsed: dict[str, Any]) -> tuple[str, int] | None:
    """(op, user id) of a decoded control message, or None if it is not a valid one."""
    data = parsed.get("data")
    if parsed.get("type") != CONTROL_TYPE or not isinstance(data, dict):
        return None
    op, user_id = data.get("op"), data.get("user_id")
    if op not in OPS or not isinstance(user_id, int):
        return None
    return op, user_id


def is_control(text: str) -> bool:
    """Cheap pre-check before decoding: control messages are rare, frames are many."""
    return text.startswith('{"type":"control"')
