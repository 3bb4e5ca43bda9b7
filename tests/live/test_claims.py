"""Which chat messages claim the pinned product (``live.claims``), without sockets."""

from __future__ import annotations

import pytest

from live.claims import quantity_claimed


@pytest.mark.parametrize(
    ("text", "quantity"),
    [
        ("SOLD", 1),
        ("sold", 1),
        ("Sold!", 1),
        ("sold 2", 2),
        ("  SOLD   3  please", 3),
        ("sold, 4.", 4),
        ("sold x2", 1),  # no number right after: one unit, the rest is chat
        ("sold 0", 0),  # claimed 0: refused by the caller, not taken for chat
        ("sold 99999999", 10_000_000),  # capped: refused by the caller
    ],
)
def test_a_message_starting_with_the_keyword_claims(text: str, quantity: int) -> None:
    assert quantity_claimed(text, "SOLD") == quantity


@pytest.mark.parametrize(
    "text", ["soldier", "sold2", "I sold it", "", "   ", "SÓLD", "so ld", "#sold", "sold\u0662"]
)
def test_other_messages_do_not(text: str) -> None:
    assert quantity_claimed(text, "sold") is None


def test_any_alphabet_and_case() -> None:
    assert quantity_claimed("Verkauft 2", "VERKAUFT") == 2
    assert quantity_claimed("ПРОДАНО", "продано") == 1
    assert quantity_claimed("straße", "STRASSE") == 1  # casefold: ß is ss
