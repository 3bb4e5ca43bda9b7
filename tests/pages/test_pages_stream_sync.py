"""Stream-time sync on the viewer page (contract "Replay and stream-time sync"): with an HLS
stream whose ``EXT-X-PROGRAM-DATE-TIME`` runs ``BEHIND_S`` seconds behind the server's clock,
a pin shows when the picture reaches the pin's ``ts`` (not when its frame arrives) and a
deal's countdown runs on the picture's clock; once the server has ended the deal, the page
no longer offers its price, though the picture has not got there. With a plain MP4 (no
picture clock) the card shows at once, as without sync.

The picture time the tests measure is read from the video itself: the first segment's
program-date-time (which the test wrote) plus ``currentTime``, at the moment the card
changes (a MutationObserver on ``#card``).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.settings import Settings
from tests.http_helpers import http_client
from tests.media_helpers import make_hls, make_mp4, require_ffmpeg, write_playlist
from tests.pages_helpers import HEADPHONES, Browser, Site, expect, require_browser

pytestmark = pytest.mark.browser

BEHIND_S = 6  # the playlist's clock starts this far behind the server's "now"
TOLERANCE_MS = 500  # a held frame shows within this of the picture reaching its ts
DEAL_S = 12  # longer than the delay: the deal card shows before the server ends the deal

# Records, once, the wall time and the picture time when `selector` (#card, #auction) first
# satisfies `test` (a function body of `card`, the element).
PROBE = """([name, selector, pdt0, test]) => {
  const seen = new Function("card", test);
  const card = document.querySelector(selector);
  window.probes = window.probes || {};
  const look = () => {
    if (window.probes[name] || !seen(card)) return;
    const video = document.querySelector("#stream video");
    window.probes[name] = {
      wall: Date.now(),
      picture: pdt0 + video.currentTime * 1000,
      deal: card.querySelector(".card-deal")?.textContent ?? null,
    };
  };
  new MutationObserver(look).observe(card, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
  look();
}"""


@pytest.fixture(autouse=True)
def _tools_available() -> None:
    require_browser()
    require_ffmpeg()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def page_settings(page_settings: Settings, media: Path) -> Settings:
    """The page tests' settings, serving ``media`` at /media/."""
    media.mkdir(parents=True, exist_ok=True)
    return replace(page_settings, media_dir=str(media))


def headphones_id(site: Site) -> int:
    titles = [title for title, *_ in demo.PRODUCTS]
    return site.shop.product_ids[titles.index(HEADPHONES)]


async def set_stream(site: Site, url: str) -> None:
    async with http_client(site.url) as http:
        resp = await http.patch(
            f"/api/lives/{site.shop.live_id}",
            json={"stream_url": url},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text


async def pin(site: Site, deal: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pin the headphones over the API; returns the `pinned` event (with its ts)."""
    body: dict[str, Any] = {"product_id": headphones_id(site)}
    if deal is not None:
        body["deal"] = deal
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin", json=body, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text
    return (await events(site, "pinned"))[-1]


async def events(site: Site, kind: str) -> list[dict[str, Any]]:
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/lives/{site.shop.live_id}/events?after=0&limit=1000")
        assert resp.status_code == 200, resp.text
        return [e for e in resp.json()["events"] if e["type"] == kind]


async def logged(site: Site, kind: str, within: float = 5.0) -> dict[str, Any]:
    """The newest ``kind`` event once the server has logged one (its deal clock may end a
    deal a moment after the page, on the server's clock, stopped offering it)."""
    deadline = time.monotonic() + within
    while not (found := await events(site, kind)):
        assert time.monotonic() < deadline, f"no {kind} event within {within} s"
        await asyncio.sleep(0.05)
    return found[-1]


async def delayed_stream(site: Site, media: Path) -> datetime:
    """A 60 s HLS stream for the live, its clock BEHIND_S behind; returns its start."""
    durations = make_hls(media / "hls", seconds=60)
    await set_stream(site, "/media/hls/index.m3u8")
    starts_at = datetime.now(UTC) - timedelta(seconds=BEHIND_S)
    # Written right before the page starts playing: the picture then runs BEHIND_S seconds
    # (plus the player's start-up) behind the server's clock.
    write_playlist(media / "hls", durations, starts_at)
    return starts_at


async def open_playing(browser: Browser, site: Site, name: str, clock: str) -> Any:
    """The viewer page with its video playing and the page's picture clock `clock`."""
    page = await browser.page(name, site.live)
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    video = page.locator("#stream video")
    await page.wait_for_function(
        "() => document.querySelector('#stream video')?.currentTime > 0.2", timeout=15000
    )
    await expect(video).to_have_attribute("data-clock", clock, timeout=5000)
    return page


async def probe(page: Any, name: str, pdt0_ms: float, test: str, selector: str = "#card") -> None:
    await page.evaluate(PROBE, [name, selector, pdt0_ms, test])


async def probed(page: Any, name: str) -> dict[str, Any]:
    """What probe `name` recorded, once it has (the longest wait: delay + deal)."""
    await page.wait_for_function(f"() => window.probes?.{name}", timeout=30000)
    result: dict[str, Any] = await page.evaluate(f"() => window.probes.{name}")
    return result


def ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


async def test_a_pin_shows_when_the_picture_reaches_it(
    site: Site, browser: Browser, media: Path
) -> None:
    starts_at = await delayed_stream(site, media)
    page = await open_playing(browser, site, "viewer-delayed", "picture")
    pdt0 = starts_at.timestamp() * 1000
    shows = (
        f"return !card.hidden && card.querySelector('.card-title')?.textContent === {HEADPHONES!r};"
    )
    await probe(page, "pin", pdt0, shows)

    pinned = await pin(site)
    seen = await probed(page, "pin")
    late = seen["picture"] - pinned["ts"]
    print(f"card vs pin ts: picture +{late:.0f} ms, wall +{seen['wall'] - pinned['ts']:.0f} ms")
    assert 0 <= late <= TOLERANCE_MS, (late, seen, pinned["ts"])
    # Not when the frame arrived (a tenth of a second after the pin): the picture was behind.
    assert seen["wall"] - pinned["ts"] >= (BEHIND_S - 1) * 1000, seen
    await expect(page.locator("#card .price-now")).to_have_text("$89.00")
    await browser.screenshot(page, "viewer-delayed-pin")


async def test_without_a_picture_clock_a_pin_shows_at_once(
    site: Site, browser: Browser, media: Path
) -> None:
    make_mp4(media / "show.mp4", seconds=20)
    await set_stream(site, "/media/show.mp4")
    page = await open_playing(browser, site, "viewer-mp4", "none")

    await pin(site)
    started = time.monotonic()
    await expect(page.locator("#card .card-title")).to_have_text(HEADPHONES, timeout=1000)
    assert time.monotonic() - started < 1.0


async def test_a_deal_the_server_ended_is_not_offered_though_the_picture_is_behind(
    site: Site, browser: Browser, media: Path
) -> None:
    starts_at = await delayed_stream(site, media)
    page = await open_playing(browser, site, "viewer-deal", "picture")
    pdt0 = starts_at.timestamp() * 1000
    price = "card.querySelector('.price-now')?.textContent"
    await probe(page, "deal", pdt0, f"return !card.hidden && {price} === '$59.00';")
    await probe(page, "list", pdt0, f"return window.probes.deal && {price} === '$89.00';")

    deal = {"price_cents": 5900, "quantity": 3, "duration_s": DEAL_S}
    pinned = await pin(site, deal)
    ends_at = ms(pinned["data"]["deal"]["ends_at"])
    shown = await probed(page, "deal")
    # The deal shows when the picture reaches the pin, its countdown on the picture's clock:
    # the full duration left, not what is left on the server's clock (some 6 s less).
    assert 0 <= shown["picture"] - pinned["ts"] <= TOLERANCE_MS, (shown, pinned["ts"])
    assert shown["wall"] < ends_at, "the deal must show before the server ends it"
    assert re.match(rf"Deal ends in 0:(1[01]|{DEAL_S})", shown["deal"]), shown
    await browser.screenshot(page, "viewer-delayed-deal")

    gone = await probed(page, "list")
    ended = await logged(site, "deal_ended")
    print(
        f"deal_ended at ends_at +{ended['ts'] - ends_at:.0f} ms; deal price gone at ends_at "
        f"+{gone['wall'] - ends_at:.0f} ms, picture {ends_at - gone['picture']:.0f} ms before"
    )
    assert ended["data"] == {"product_id": headphones_id(site), "reason": "expired"}
    # Dropped when the server ended it (its clock or its deal_ended), not before...
    assert gone["wall"] >= ends_at - 200, (gone, ends_at)
    assert gone["wall"] <= ended["ts"] + 1000, (gone, ended["ts"])
    # ...while the picture was still seconds before the deal's end.
    assert gone["picture"] < ends_at - (BEHIND_S - 2) * 1000, (gone, ends_at)
    card = page.locator("#card")
    await expect(card.locator(".card-title")).to_have_text(HEADPHONES)
    await expect(card.locator(".price-now")).to_have_text("$89.00")
    await expect(card.locator(".price-was")).to_be_hidden()
    await expect(card.locator(".card-deal")).to_be_hidden()
    await browser.screenshot(page, "viewer-delayed-deal-ended")

    # When the picture reaches the deal_ended frame it is applied: the list price stays.
    picture = "pdt0 + document.querySelector('#stream video').currentTime * 1000"
    await page.wait_for_function(
        f"([pdt0, ts]) => {picture} > ts + 300", arg=[pdt0, ended["ts"]], timeout=15000
    )
    await expect(card.locator(".price-now")).to_have_text("$89.00")
    await expect(card.locator(".card-kicker")).to_have_text("Pinned now")


async def test_an_auction_the_server_closed_takes_no_bid_though_the_picture_is_behind(
    site: Site, browser: Browser, media: Path
) -> None:
    starts_at = await delayed_stream(site, media)
    page = await open_playing(browser, site, "viewer-auction", "picture")
    pdt0 = starts_at.timestamp() * 1000
    kicker = "card.querySelector('.card-kicker')?.textContent"
    await probe(
        page, "bidding", pdt0, f"return !card.hidden && {kicker} === 'Live auction';", "#auction"
    )
    after = f"return window.probes.bidding && {kicker} !== 'Live auction';"
    await probe(page, "closed", pdt0, after, "#auction")

    body = {"product_id": headphones_id(site), "start_cents": 2000, "duration_s": DEAL_S}
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/auctions", json=body, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 201, resp.text
    ends_at = ms(resp.json()["auction"]["ends_at"])
    started = (await events(site, "auction_started"))[-1]
    bidding = await probed(page, "bidding")
    assert 0 <= bidding["picture"] - started["ts"] <= TOLERANCE_MS, (bidding, started["ts"])
    assert bidding["wall"] < ends_at, "the auction must show before the server closes it"
    await expect(page.locator("#auction-timer")).to_have_text(
        re.compile(r"^Ends in 0:(0[5-9]|1\d)")
    )

    closed = await probed(page, "closed")
    assert closed["wall"] >= ends_at - 200, (closed, ends_at)
    assert closed["picture"] < ends_at - (BEHIND_S - 2) * 1000, (closed, ends_at)
    # Not a countdown to a close the server has made: no bid is offered any more.
    await expect(page.locator("#auction-timer")).to_have_text(re.compile("^Bidding closed"))
    await expect(page.locator("#bid-now")).to_have_text("Sign in to bid")  # anonymous
    await browser.screenshot(page, "viewer-delayed-auction-closed")
