"""Text that people can see: invisible tricks refused, look-alikes folded for matching.

Two separate jobs:

- ``has_bidi_control``: bidirectional override and isolate characters
  (U+202A–U+202E, U+2066–U+2069) make text display in another order than it is
  stored ("gpj.exe" shown as "exe.jpg"); chat, titles and names refuse them.
- ``fold``: the form blocked words are compared in. It removes invisible format
  characters (zero-width space, soft hyphen, joiners…) and combining marks
  (accents, strike-through), applies NFKC (fullwidth and other compatibility
  forms become plain letters), maps Cyrillic and Greek
  letters that look like Latin ones to those Latin letters, and case-folds. It is
  only for comparing: what is stored and shown is always what the sender wrote.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Mapped before case-folding: Greek capital Ν looks like N, its lowercase ν like v.
_LOOKALIKES = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ԛ": "Q",
    "Ԝ": "W", "Ү": "Y", "Һ": "H", "Ӏ": "I",
    # Cyrillic small letters
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y",
    "ѵ": "v", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Greek small letters
    "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "η": "n", "ω": "w", "μ": "u", "ς": "c",
}  # fmt: skip
_FOLD_TABLE = str.maketrans(_LOOKALIKES)


def has_bidi_control(text: str) -> bool:
    return not BIDI_CONTROLS.isdisjoint(text)


def fold(text: str) -> str:
    """``text`` as blocked words are matched: no invisible characters, look-alikes folded."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    # Decomposed, combining marks go too: "s̶p̶a̶m̶" (strike-through) and "spãm" are spam.
    # NFKD also turns fullwidth "Ｃ" into "C" and may itself produce Greek or Cyrillic
    # letters (the micro sign becomes Greek mu), which the table then folds.
    decomposed = unicodedata.normalize("NFKD", visible)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", bare).translate(_FOLD_TABLE).casefold()
