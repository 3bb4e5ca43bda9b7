"""Comment-to-buy and giveaway keywords: which chat messages claim the pinned product,
or enter the open giveaway (sans-I/O).

A pin may carry a claim keyword (``SOLD``). A message claims the product when its first
word is the keyword in any case, trailing punctuation aside (``sold!``, ``Sold``; not
``soldier``), optionally followed by a quantity (``sold 2``). Anything after that is
ordinary chat. The chat line is shown like any other; the claim is placed by the app
(``app.claims``) under the message's id, so one message makes at most one order. A
giveaway's keyword works the same way (no quantity); when a line could do both, the
pin's claim keyword wins — the two are kept different (``live.pins``, ``live.giveaways``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Longer quantities are refused anyway: read at most this many digits.
_MAX_DIGITS = 7


@dataclass(frozen=True)
class Claim:
    """A chat message that claims the product pinned when it was sent."""

    live_id: int
    product_id: int | None  # None: the keyword was the last pin's, and nothing is pinned now
    message_id: int
    quantity: int  # as typed (at least 1 when no number follows); the caller checks limits


def _bare(word: str) -> str:
    """``word`` without the punctuation that ends it (``sold!`` -> ``sold``)."""
    end = len(word)
    while end and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[:end]


@dataclass(frozen=True)
class Entry:
    """A chat message that enters the live's open giveaway with its keyword."""

    live_id: int
    giveaway_id: int
    message_id: int


def says(text: str, keyword: str) -> bool:
    """Whether ``text``'s first word is ``keyword`` (any case, trailing punctuation aside)."""
    words = text.split(maxsplit=1)
    return bool(words) and _bare(words[0]).casefold() == keyword.casefold()


def quantity_claimed(text: str, keyword: str) -> int | None:
    """The quantity ``text`` claims with ``keyword``, or None when it is not a claim."""
    if not says(text, keyword):
        return None
    words = text.split()
    if len(words) > 1:
        number = _bare(words[1])
        if number.isascii() and number.isdigit():
            return int(number[:_MAX_DIGITS]) if len(number) <= _MAX_DIGITS else 10**_MAX_DIGITS
    return 1
