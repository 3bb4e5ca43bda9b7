"""The auction benchmark's numbers and checks, from what its clients recorded and what
the server answers afterwards (``GET /api/auctions/{id}``, the live's replay log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bench import auction_load as load
from bench import benchkit as kit
from live.auction_rules import Bidder, Ledger


def rates(sent: list[load.Sent]) -> dict[str, Any]:
    """Bids sent, answered, accepted and refused (by code): counts and per second."""
    t0 = min(x.sent_ns for x in sent)
    send_s = max((max(x.sent_ns for x in sent) - t0) / 1e9, 1e-9)
    answered = [x for x in sent if x.outcome]
    span = max((max((x.answered_ns for x in answered), default=t0) - t0) / 1e9, 1e-9)
    codes: dict[str, int] = {}
    for x in answered:
        codes[x.outcome] = codes.get(x.outcome, 0) + 1
    return {"sent": len(sent), "sent_per_s": round(len(sent) / send_s, 1),
            "answered": len(answered), "answer_window_s": round(span, 3),
            "answered_per_s": round(len(answered) / span, 1), "outcomes": codes,
            "per_s": {k: round(v / span, 1) for k, v in codes.items()},
            "answer_ms": kit.summary((x.answered_ns - x.sent_ns) / 1e6
                                     for x in answered)}  # fmt: skip


def replay(done: dict[str, Any], by_key: dict[tuple[int, int], load.Sent],
           started: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The history through the rules with the maximums this benchmark sent."""
    a = done["auction"]
    book = Ledger(a["start_cents"], datetime.fromisoformat(started["ends_at"]), a["extend_s"],
                  a["sudden_death"])  # fmt: skip
    mismatches, late = [], 0
    for k, h in enumerate(done["history"], 1):
        at, who = datetime.fromisoformat(h["at"]), h["bidder"]
        late += at >= datetime.fromisoformat(a["ends_at"])
        sent = by_key.get((who["id"], h["amount_cents"]))
        try:
            got = book.bid(Bidder(who["id"], who["username"]), h["amount_cents"],
                           sent.max_cents if sent else None, at)  # fmt: skip
        except Exception as exc:
            mismatches.append(f"bid {k}: {exc!r}")
            continue
        if (got.price_cents, got.leader.id) != (h["price_cents"], h["leader"]):
            mismatches.append(f"bid {k}: replay {got.price_cents}/{got.leader.id}, server "
                              f"{h['price_cents']}/{h['leader']}")  # fmt: skip
    leader = book.leader
    final_ok = (a["status"] == "sold" and a["price_cents"] == book.price_cents
                and a["winner"]["id"] == (leader.id if leader else None)
                and datetime.fromisoformat(a["ends_at"]) == book.ends_at)  # fmt: skip
    return {"history": len(done["history"]), "mismatches": mismatches[:5],
            "final_matches": final_ok if done["history"] else a["status"] == "unsold",
            "accepted_at_or_after_ends_at": late}  # fmt: skip


def frame_checks(sampled: list[Any], n_bids: int) -> tuple[dict[str, Any], list[Any]]:
    """Per sampled watcher: bid counters 1..n, consecutive seqs, one ``auction_ended``."""
    bad, ended, frames = 0, set(), []
    for watcher in sampled:
        mine = load.decoded(watcher)
        bids = [(f["data"]["bids"], f["seq"], t) for t, f in mine if f["type"] == "bid"]
        seqs = [q for _, q, _ in bids]
        ok = [b for b, _, _ in bids] == list(range(1, n_bids + 1)) and seqs == list(
            range(seqs[0], seqs[0] + len(seqs)) if seqs else []
        )
        bad += not ok
        ended.add(sum(f["type"] == "auction_ended" for _, f in mine))
        frames.append(bids)
    return {"sampled_watchers": len(sampled), "watchers_with_bad_bid_frames": bad,
            "auction_ended_per_watcher": sorted(ended)}, frames  # fmt: skip


def latency(frames: list[Any], done: dict[str, Any], by_key: dict[Any, load.Sent],
            uid_index: dict[int, int]) -> dict[str, Any]:  # fmt: skip
    """Bid send -> the first sampled watcher's receipt, and -> every sampled watcher's."""
    sent_at = {}
    for k, h in enumerate(done["history"], 1):
        sent = by_key.get((h["bidder"]["id"], h["amount_cents"]))
        if sent is not None and uid_index.get(h["bidder"]["id"]) == sent.bidder:
            sent_at[k] = sent.sent_ns
    first: dict[int, int] = {}
    every = []
    for bids in frames:
        for k, _seq, t in bids:
            if k in sent_at:
                first[k] = min(first.get(k, t), t)
                every.append((t - sent_at[k]) / 1e6)
    values = sorted(round((first[k] - sent_at[k]) / 1e6, 2) for k in first)
    return {"matched": len(first), "first_ms": kit.summary(values), "first_values_ms": values,
            "every_sampled_ms": kit.summary(every)}  # fmt: skip
