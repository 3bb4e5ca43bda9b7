"""A live's timeline: every pin (with its deal), auction and giveaway, placed on the
show's clock — milliseconds from ``started_at`` — for its replay.

Built from the event log alone (no second source of truth): ``build`` is sans-I/O
(decoded frames in, entries out); ``read`` fetches the frames it needs. An entry:

    {"kind": "pin" | "auction" | "giveaway", "id": auction/giveaway id or None,
     "product": {...card...}, "deal": {...} or None,
     "offset_ms": int, "end_offset_ms": int or None (still showing),
     "deal_end_offset_ms": int or None, "deal_end_reason": str or None,
     "at": ISO time, "ended_at": ISO time or None}

Guarantees: entries are in the order they began (``offset_ms`` ascending); a pin ends
when the next pin, an unpin or the live's end comes; offsets never go below 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.times import iso_utc
from live.models import LiveEvent

TYPES = (
    "pinned", "unpinned", "deal_ended", "auction_started", "auction_ended",
    "giveaway_started", "giveaway_ended", "live_ended",
)  # fmt: skip

Entry = dict[str, Any]


def _iso(ms: int) -> str:
    return iso_utc(datetime.fromtimestamp(ms / 1000, UTC))


class _Builder:
    def __init__(self, started_ms: int) -> None:
        self.started_ms = started_ms
        self.entries: list[Entry] = []
        self.pin: Entry | None = None
        self.open: dict[tuple[str, int], Entry] = {}  # (kind, id) -> its entry

    def offset(self, ts: int) -> int:
        return max(0, ts - self.started_ms)

    def begin(self, kind: str, ident: int | None, product: Any, deal: Any, ts: int) -> Entry:
        entry: Entry = {
            "kind": kind, "id": ident, "product": product, "deal": deal,
            "offset_ms": self.offset(ts), "end_offset_ms": None,
            "deal_end_offset_ms": None, "deal_end_reason": None,
            "at": _iso(ts), "ended_at": None,
        }  # fmt: skip
        self.entries.append(entry)
        return entry

    def end(self, entry: Entry | None, ts: int) -> None:
        if entry is not None and entry["end_offset_ms"] is None:
            entry["end_offset_ms"], entry["ended_at"] = self.offset(ts), _iso(ts)

    def close_pin(self, ts: int) -> None:
        if self.pin is not None and self.pin["deal"] and self.pin["deal_end_offset_ms"] is None:
            self.pin["deal_end_offset_ms"], self.pin["deal_end_reason"] = (
                self.offset(ts),
                "unpinned",
            )
        self.end(self.pin, ts)
        self.pin = None

    def product_of(self, product_id: int) -> Any:
        """The card of ``product_id`` as last pinned (an auction follows its pin)."""
        for entry in reversed(self.entries):
            if entry["kind"] == "pin" and entry["product"].get("id") == product_id:
                return entry["product"]
        return {"id": product_id}

    def feed(self, type_: str, ts: int, data: dict[str, Any]) -> None:
        if type_ == "pinned":
            self.close_pin(ts)
            self.pin = self.begin("pin", None, data.get("product"), data.get("deal"), ts)
        elif type_ in ("unpinned", "live_ended"):
            self.close_pin(ts)
            if type_ == "live_ended":
                for entry in self.open.values():
                    self.end(entry, ts)
        elif type_ == "deal_ended":
            pin = self.pin
            if pin is not None and pin["product"].get("id") == data.get("product_id"):
                pin["deal_end_offset_ms"] = self.offset(ts)
                pin["deal_end_reason"] = data.get("reason")
        elif type_ == "auction_started":
            auction = data["auction"]
            product = self.product_of(auction["product_id"])
            self.open[("auction", auction["id"])] = self.begin(
                "auction", auction["id"], product, None, ts)  # fmt: skip
        elif type_ == "giveaway_started":
            g = data["giveaway"]
            self.open[("giveaway", g["id"])] = self.begin(
                "giveaway", g["id"], g["product"], None, ts
            )
        elif type_ in ("auction_ended", "giveaway_ended"):
            kind = type_.split("_")[0]
            self.end(self.open.pop((kind, data.get(f"{kind}_id") or 0), None), ts)


def build(frames: Iterable[dict[str, Any]], started_at: datetime | None) -> list[Entry]:
    """The timeline from decoded frames (any order of seq is fine: they are sorted)."""
    if started_at is None:
        return []
    builder = _Builder(int(started_at.timestamp() * 1000))
    for frame in sorted(frames, key=lambda f: f.get("seq") or 0):
        if frame.get("type") in TYPES:
            builder.feed(frame["type"], int(frame["ts"]), frame.get("data") or {})
    return sorted(builder.entries, key=lambda e: e["offset_ms"])


async def read(session: AsyncSession, live_id: int, started_at: datetime | None) -> list[Entry]:
    """``build`` over the live's logged frames of the timeline's types."""
    if started_at is None:
        return []
    rows = await session.exec(
        select(LiveEvent.frame)
        .where(LiveEvent.live_id == live_id, col(LiveEvent.type).in_(TYPES))
        .order_by(col(LiveEvent.seq))
    )
    return build((json.loads(text) for text in rows.all()), started_at)
