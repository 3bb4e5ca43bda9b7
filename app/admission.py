"""Admission of viewer sockets: per-address and per-account caps, and a bound on joins
in flight. Counts this process's sockets only; sans-I/O (no awaits, no clock).

A refused socket is closed with 1013 (try again later) before any work is done
for it, and the refusal is counted in ``/metrics`` by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted socket: what it holds until ``Admission.release``."""

    address: str
    user_id: int | None = None
    joining: bool = True


class Admission:
    """``0`` for a cap means no cap."""

    def __init__(self, per_address: int, per_user: int, max_joining: int) -> None:
        self.per_address = per_address
        self.per_user = per_user
        self.max_joining = max_joining
        self.joining = 0
        self._addresses: Counter[str] = Counter()
        self._users: Counter[int] = Counter()

    def admit(self, address: str) -> Ticket | str:
        """A ticket for a new socket from ``address``, or the reason it is refused."""
        if self.max_joining and self.joining >= self.max_joining:
            return "overload"
        if self.per_address and self._addresses[address] >= self.per_address:
            return "address_cap"
        self._addresses[address] += 1
        self.joining += 1
        return Ticket(address)

    def identify(self, ticket: Ticket, user_id: int) -> str | None:
        """The socket signed in as ``user_id``: None, or the reason it is refused."""
        if self.per_user and self._users[user_id] >= self.per_user:
            return "user_cap"
        self._users[user_id] += 1
        ticket.user_id = user_id
        return None

    def joined(self, ticket: Ticket) -> None:
        """The socket got its first frame: it no longer counts as a join in flight."""
        if ticket.joining:
            ticket.joining = False
            self.joining -= 1

    def release(self, ticket: Ticket) -> None:
        """The socket closed. Safe to call once per ticket."""
        self.joined(ticket)
        _drop(self._addresses, ticket.address)
        if ticket.user_id is not None:
            _drop(self._users, ticket.user_id)
            ticket.user_id = None

    def sockets_from(self, address: str) -> int:
        return self._addresses[address]


def _drop(counts: Counter[Any], key: Any) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
