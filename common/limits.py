"""Limits that more than one package checks or documents, defined once."""

from __future__ import annotations

MAX_MUTE_S = 7 * 24 * 3600
"""The longest mute, in seconds (one week)."""

MAX_SLOW_MODE_S = 3600
"""The longest slow-mode interval, in seconds (0 turns slow mode off)."""
