"""Replays and scheduled shows (contract: Replay and stream-time sync), through a real
server on SQLite and PostgreSQL: the timeline from the event log against the pins'
known times, editing a live (URLs validated, scheduled_at only while scheduled), orders
from the replay at the list price with ``source: "replay"``, counted apart in stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from live import timeline
from tests.http_helpers import assert_error
from tests.order_helpers import SHIPPING, fresh_key
from tests.ws_helpers import Rest, Who, auth


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def patch(rest: Rest, who: Who, live_id: int, body: Any) -> Any:
    return await rest.http.patch(f"/api/lives/{live_id}", json=body, headers=auth(who))


async def buy(rest: Rest, who: Who, product_id: int, live_id: int | None, **extra: Any) -> Any:
    body = {"product_id": product_id, "quantity": 1, "shipping": SHIPPING, **extra}
    if live_id is not None:
        body["live_id"] = live_id
    headers = {**auth(who), "Idempotency-Key": fresh_key()}
    return await rest.http.post("/api/orders", json=body, headers=headers)


async def test_the_timeline_places_every_pin_deal_auction_and_giveaway(rest: Rest) -> None:
    cara = await rest.register("cara", "creator")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=5)
    lamp = await rest.product(cara, title="Lamp", price_cents=4000, stock=5)
    live = await rest.live(cara, start=True)
    lid = live["id"]
    await rest.pinned(cara, lid, mug["id"], price_cents=999, quantity=2, duration_s=600)
    await rest.pinned(cara, lid, lamp["id"])
    unpinned = await rest.http.delete(f"/api/lives/{lid}/pin", headers=auth(cara))
    assert unpinned.status_code == 204
    await rest.pinned(cara, lid, mug["id"])
    ended = await rest.http.post(f"/api/lives/{lid}/end", headers=auth(cara))
    assert ended.status_code == 200
    started = ms(ended.json()["live"]["started_at"])
    events = {e["seq"]: e for e in await rest.events(lid)}
    pins = [e for e in events.values() if e["type"] == "pinned"]
    closes = [e for e in events.values() if e["type"] in ("pinned", "unpinned", "live_ended")]

    resp = await rest.http.get(f"/api/lives/{lid}/timeline")
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"].startswith("public")  # ended: final
    body = resp.json()
    assert body["status"] == "ended" and body["started_at"] == ended.json()["live"]["started_at"]
    entries = body["timeline"]
    assert [(e["kind"], e["product"]["title"]) for e in entries] == [
        ("pin", "Mug"), ("pin", "Lamp"), ("pin", "Mug")]  # fmt: skip
    # Each pin from its pinned event's ts to the next pinned / unpinned / live_ended.
    ends = [e["ts"] for e in closes if e["seq"] > pins[0]["seq"]]
    assert [e["offset_ms"] for e in entries] == [p["ts"] - started for p in pins]
    assert entries[0]["end_offset_ms"] == pins[1]["ts"] - started
    assert entries[1]["end_offset_ms"] == ends[1] - started  # the unpin
    assert entries[2]["end_offset_ms"] == ends[3] - started  # unpinned as the live ended
    assert entries[0]["deal"]["price_cents"] == 999 and entries[1]["deal"] is None
    assert entries[0]["deal_end_reason"] == "unpinned"
    first = entries[0]
    assert first["offset_ms"] <= first["deal_end_offset_ms"] <= first["end_offset_ms"]
    assert all(e["ended_at"] for e in entries)


def test_the_timeline_builder_handles_auctions_giveaways_and_open_pins() -> None:
    start = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    t0 = int(start.timestamp() * 1000)
    card = {"id": 3, "title": "Lamp"}
    frames = [
        {"seq": 1, "type": "live_started", "ts": t0, "data": {}},
        {"seq": 2, "type": "pinned", "ts": t0 + 1_000, "data": {"product": card, "deal": None}},
        {"seq": 3, "type": "auction_started", "ts": t0 + 1_001,
         "data": {"auction": {"id": 9, "product_id": 3}}},
        {"seq": 4, "type": "chat", "ts": t0 + 2_000, "data": {"text": "hi"}},
        {"seq": 5, "type": "auction_ended", "ts": t0 + 31_000, "data": {"auction_id": 9}},
        {"seq": 6, "type": "giveaway_started", "ts": t0 + 40_000,
         "data": {"giveaway": {"id": 4, "product": {"id": 5, "title": "Mug"}}}},
        {"seq": 7, "type": "deal_ended", "ts": t0 + 41_000, "data": {"product_id": 99}},
    ]  # fmt: skip
    entries = timeline.build(reversed(frames), start)
    assert [(e["kind"], e["id"], e["product"]["title"], e["offset_ms"], e["end_offset_ms"])
            for e in entries] == [
        ("pin", None, "Lamp", 1_000, None),  # still pinned
        ("auction", 9, "Lamp", 1_001, 31_000),
        ("giveaway", 4, "Mug", 40_000, None),
    ]  # fmt: skip
    assert timeline.build(frames, None) == []


async def test_a_creator_edits_a_live_and_viewers_are_told(rest: Rest) -> None:
    cara = await rest.register("cara", "creator")
    bob = await rest.register("bob")
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = {"title": "Sunday", "scheduled_at": soon.isoformat()}
    created = await rest.http.post("/api/lives", headers=auth(cara), json=body)
    assert created.status_code == 201, created.text
    live = created.json()["live"]
    assert live["scheduled_at"] == soon.isoformat().replace("+00:00", "Z")
    assert live["recording_url"] is None
    lid = live["id"]
    later = soon + timedelta(hours=1)
    resp = await patch(rest, cara, lid, {"title": "Sunday sale", "stream_url": "/media/show.m3u8",
                                         "scheduled_at": later.isoformat()})  # fmt: skip
    assert resp.status_code == 200, resp.text
    got = resp.json()["live"]
    assert (got["title"], got["stream_url"]) == ("Sunday sale", "/media/show.m3u8")
    assert ms(got["scheduled_at"]) == int(later.timestamp() * 1000)
    updated = [e for e in await rest.events(lid) if e["type"] == "live_updated"]
    assert updated[-1]["data"]["title"] == "Sunday sale"
    # Only the creator; bad values are refused and change nothing.
    assert_error(await patch(rest, bob, lid, {"title": "Mine"}), 403)
    for bad in ({"recording_url": "javascript:alert(1)"}, {"stream_url": "//evil.example/x"},
                {"title": None}, {"title": ""}, {"scheduled_at": "2020-01-01T00:00:00Z"},
                {"scheduled_at": "2027-01-01T10:00:00"}):  # fmt: skip
        assert_error(await patch(rest, cara, lid, bad), 422, "validation_error")
    assert_error(await patch(rest, cara, 999_999, {"title": "x"}), 404)
    assert (await rest.http.get(f"/api/lives/{lid}")).json()["live"]["title"] == "Sunday sale"
    # Once started, the start time is history; the recording can be set at any time.
    await rest.start(cara, lid)
    assert_error(await patch(rest, cara, lid, {"scheduled_at": later.isoformat()}), 409,
                 "invalid_state")  # fmt: skip
    resp = await patch(rest, cara, lid, {"recording_url": "https://cdn.example/show.mp4",
                                         "stream_url": None})  # fmt: skip
    assert resp.status_code == 200 and resp.json()["live"]["stream_url"] is None
    assert resp.json()["live"]["recording_url"] == "https://cdn.example/show.mp4"


async def test_replay_orders_are_at_the_list_price_and_counted_apart(rest: Rest) -> None:
    cara = await rest.register("cara", "creator")
    bob = await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=10)
    lamp = await rest.product(cara, title="Lamp", price_cents=4000, stock=10)
    live = await rest.live(cara)
    lid = live["id"]
    assert_error(await buy(rest, bob, mug["id"], lid, source="replay"), 409, "invalid_state")
    await rest.start(cara, lid)
    await rest.pinned(cara, lid, mug["id"], price_cents=500, quantity=5, duration_s=600)
    during = await buy(rest, bob, mug["id"], lid)  # through the live: the deal price
    assert during.status_code == 201 and during.json()["order"]["unit_price_cents"] == 500
    # The replay while the live still runs: the list price, not the deal's.
    replayed = await buy(rest, bob, mug["id"], lid, source="replay")
    assert replayed.status_code == 201, replayed.text
    order = replayed.json()["order"]
    assert (order["source"], order["unit_price_cents"], order["live_id"]) == ("replay", 1500, lid)
    await rest.http.post(f"/api/lives/{lid}/end", headers=auth(cara))
    again = await buy(rest, bob, mug["id"], lid, source="replay")  # after the end too
    assert again.status_code == 201 and again.json()["order"]["unit_price_cents"] == 1500
    assert_error(await buy(rest, bob, mug["id"], lid), 409, "invalid_state")  # the live is over
    error = assert_error(await buy(rest, bob, lamp["id"], lid, source="replay"), 422,
                         "not_in_show")  # fmt: skip
    assert set(error["fields"]) == {"product_id"}
    assert_error(await buy(rest, bob, mug["id"], None, source="replay"), 422, "validation_error")
    assert_error(await buy(rest, bob, mug["id"], lid, source="live"), 422, "validation_error")
    stats = (await rest.http.get(f"/api/lives/{lid}/stats", headers=auth(cara))).json()
    assert (stats["orders"], stats["revenue_cents"]) == (1, 500)
    assert stats["replay"] == {"orders": 2, "units": 2, "revenue_cents": 3000, "products": [
        {"product_id": mug["id"], "orders": 2, "units": 2, "revenue_cents": 3000}]}  # fmt: skip


@pytest.mark.parametrize("source", ["replay"])
async def test_a_replay_key_is_not_a_live_orders_key(rest: Rest, source: str) -> None:
    cara = await rest.register("cara", "creator")
    bob = await rest.register("bob")
    mug = await rest.product(cara, title="Mug", price_cents=1500, stock=10)
    live = await rest.live(cara, start=True)
    await rest.pinned(cara, live["id"], mug["id"])
    key = fresh_key()
    body = {"product_id": mug["id"], "quantity": 1, "shipping": SHIPPING, "live_id": live["id"]}
    headers = {**auth(bob), "Idempotency-Key": key}
    first = await rest.http.post("/api/orders", json=body, headers=headers)
    assert first.status_code == 201
    other = await rest.http.post("/api/orders", json={**body, "source": source}, headers=headers)
    assert_error(other, 422, "idempotency_mismatch")
