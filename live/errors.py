"""Domain errors of the live package. ``LiveError`` is the root; each carries a code."""

from __future__ import annotations

from typing import Any


class LiveError(Exception):
    """Root of every error raised by ``live``. ``code`` is stable and machine-readable."""

    code = "live_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class LiveNotFound(LiveError):
    code = "not_found"


class InvalidState(LiveError):
    """The live is not in a status that allows the action (e.g. restarting an ended live)."""

    code = "invalid_state"


class InvalidModerator(LiveError):
    code = "invalid_moderator"


class ForeignProduct(LiveError):
    """Only the live creator's own products can be pinned."""

    code = "foreign_product"


class InvalidDeal(LiveError):
    code = "invalid_deal"


class DealExhausted(LiveError):
    """Fewer deal units are left than asked for."""

    code = "insufficient_stock"


class DealLimitReached(LiveError):
    """The buyer would go past the deal's per-buyer limit."""

    code = "deal_limit_exceeded"
