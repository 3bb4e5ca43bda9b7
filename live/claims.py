"""Comment-to-buy: which chat messages claim the pinned product (sans-I/O).

A pin may carry a claim keyword (``SOLD``). A message claims the product when its first
word is the keyword in any case, trailing punctuation aside (``sold!``, ``Sold``; not
``soldier``), optionally followed by a quantity (``sold 2``). Anything after that is
ordinary chat. The chat line is shown like any other; the claim is placed by the app
(``app.claims``) under the message's id, so one message makes at most one order.
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


def quantity_claimed(text: str, keyword: str) -> int | None:
    """The quantity ``text`` claims with ``keyword``, or None when it is not a claim."""
    words = text.split()
    if not words or _bare(words[0]).casefold() != keyword.casefold():
        return None
    if len(words) > 1:
        number = _bare(words[1])
        if number.isascii() and number.isdigit():
            return int(number[:_MAX_DIGITS]) if len(number) <= _MAX_DIGITS else 10**_MAX_DIGITS
    return 1
