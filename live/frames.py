"""Server frames: the JSON envelope, encoded once per event and shared by every viewer.

Envelope: ``{"type", "live_id", "seq", "ts", "data"}``. ``seq`` is an int for
broadcast events (kept in the replay log) and null for ephemeral or private ones.
``ts`` is integer milliseconds since the epoch, UTC.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any

# Compact separators: every byte is paid once per viewer.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def dumps(value: Any) -> str:
    return _dumps(value)


def envelope(
    type_: str, live_id: int | None, seq: int | None, ts: int, data: dict[str, Any]
) -> str:
    return _dumps({"type": type_, "live_id": live_id, "seq": seq, "ts": ts, "data": data})


def ws_text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented, uncompressed WebSocket text frame (RFC 6455 §5.2).

    Servers never mask, so the bytes are the same for every connection that did
    not negotiate an extension: encode once, write to each transport.
    """
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


@dataclass(eq=False, slots=True)
class Frame:
    """An encoded server frame. ``wire`` (the WebSocket bytes) is built on first use, once."""

    text: str
    seq: int | None = None
    _wire: bytes | None = field(default=None, repr=False)

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = ws_text_frame(self.text.encode("utf-8"))
        return self._wire

    @classmethod
    def make(
        cls,
        type_: str,
        live_id: int | None,
        data: dict[str, Any],
        *,
        seq: int | None = None,
        ts: int | None = None,
    ) -> Frame:
        return cls(envelope(type_, live_id, seq, now_ms() if ts is None else ts, data), seq)
