"""Frames for the reference servers: the same envelope, shape and size as livecart's.

``bench/fanout.py`` creates, on the livecart variants, a creator ``benchcreator``
(id 1), the product below (id 1) and a live (id 1); livecart's ``pinned`` frame
for it is then exactly what ``pinned_frame()`` builds, byte for byte except the
``ts`` digits (same count). The snapshot is a small frame of the same kind.
"""

from __future__ import annotations

import json
import time
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

CREATOR = {"username": "benchcreator", "password": "bench-password-1", "role": "creator"}
PRODUCT = {
    "title": "Bench mug",
    "price_cents": 1999,
    "stock": 1000,
    "image_url": "/static/mug.jpg",
    "url": "https://example.com/mug",
}
CARD = {
    "id": 1,
    "title": PRODUCT["title"],
    "price_cents": PRODUCT["price_cents"],
    "currency": "USD",
    "image_url": PRODUCT["image_url"],
    "url": PRODUCT["url"],
    "stock": PRODUCT["stock"],
}
LIVE_ID = 1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def envelope(type_: str, seq: int | None, data: dict[str, Any]) -> str:
    return _dumps({"type": type_, "live_id": LIVE_ID, "seq": seq, "ts": now_ms(), "data": data})


def pinned_frame() -> str:
    """livecart's ``pinned`` event for the bench product (seq 2: after ``live_started``)."""
    by = {"id": 1, "username": CREATOR["username"]}
    return envelope("pinned", 2, {"product": CARD, "deal": None, "by": by})


def snapshot_frame(viewers: int) -> str:
    live = {
        "id": LIVE_ID,
        "creator_id": 1,
        "title": "bench",
        "status": "live",
        "stream_url": None,
        "pinned": None,
        "viewers": viewers,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "started_at": "2026-01-01T00:00:00.000000Z",
        "ended_at": None,
    }
    return envelope(
        "snapshot",
        None,
        {"live": live, "pinned": None, "viewers": viewers, "recent_chat": [], "seq": 1},
    )
