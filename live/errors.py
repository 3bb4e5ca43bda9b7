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


class DealExhausted(LiveError):
    """Fewer deal units are left than asked for."""

    code = "insufficient_stock"


class DealLimitReached(LiveError):
    """The buyer would go past the deal's per-buyer limit."""

    code = "deal_limit_exceeded"


class SignInRequired(LiveError):
    code = "sign_in_required"


class InvalidText(LiveError):
    code = "invalid_text"


class BlockedWordUsed(LiveError):
    """The message contains a word on the live's blocked list; it is not shown to anyone."""

    code = "blocked_word"


class Muted(LiveError):
    """The sender is muted on this live; ``retry_after`` says for how long."""

    code = "muted"


class Banned(LiveError):
    code = "banned"


class ChatRateLimited(LiveError):
    code = "rate_limited"


class SlowModeActive(LiveError):
    code = "slow_mode"


class InvalidTarget(LiveError):
    """A moderation action aimed at someone it cannot apply to (the creator, oneself)."""

    code = "invalid_target"


class ChatMessageNotFound(LiveError):
    code = "not_found"


class Unavailable(LiveError):
    """Transient: the live's state could not be loaded (the database was busy); retry."""

    code = "unavailable"


class AuctionRunning(LiveError):
    """A live runs one auction at a time."""

    code = "auction_running"


class AuctionClosed(LiveError):
    """The auction's ``ends_at`` has passed by the server's clock, or it has ended."""

    code = "auction_closed"


class BidTooLow(LiveError):
    """Under the auction's ``next_min_cents`` (carried in ``data``)."""

    code = "bid_too_low"


class InvalidBid(LiveError):
    """A bid that can never be valid (a maximum below its own amount)."""

    code = "validation_error"


class GiveawayRunning(LiveError):
    """A live runs at most one open giveaway at a time."""

    code = "giveaway_running"


class GiveawayClosed(LiveError):
    """The giveaway was drawn, or its time is up: no more entries."""

    code = "giveaway_closed"


class AlreadyEntered(LiveError):
    """One entry per account."""

    code = "already_entered"


class KeywordInUse(LiveError):
    """The pin's claim keyword and the open giveaway's keyword must differ, or one chat
    line would both buy and enter."""

    code = "keyword_in_use"
