"""Open TCP connections per peer address, for the whole process (see app/httpproto.py).

A connection is counted by the HTTP protocol that accepts it and released when its
transport is lost, by whichever protocol then owns it (HTTP, or WebSocket after an
upgrade). Sans-I/O: no awaits, no clock.
"""

from __future__ import annotations

from collections import Counter


class AddressCounts:
    """How many connections each address holds open."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def enter(self, address: str, cap: int) -> bool:
        """Count one more connection from ``address``; False (not counted) at ``cap``."""
        if cap and self._open[address] >= cap:
            return False
        self._open[address] += 1
        return True

    def leave(self, address: str) -> None:
        """A counted connection closed. Once per ``enter`` that returned True."""
        left = self._open[address] - 1
        if left > 0:
            self._open[address] = left
        else:
            del self._open[address]

    def open_from(self, address: str) -> int:
        return self._open.get(address, 0)


# One per process: every uvicorn server of the process shares its file descriptors.
OPEN = AddressCounts()
