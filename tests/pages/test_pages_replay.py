"""A live's replay and its bag on the pages, in Chromium, with a real recording.

The server serves ``LIVECART_MEDIA_DIR`` (a 30 s H.264 MP4 made with ffmpeg) at ``/media/``.
A show is made over the API: the tee pinned with a flash deal, then the plant, an unpin, the
tee again (no deal), the end; ``recording_url`` is set to ``/media/show.mp4``. The pins are
1.5 s apart only so that their offsets are well separated; every check waits on the page.

- ``/replay/{id}`` on a phone: wherever the playhead is put — ``currentTime`` set, the "Shop
  this show" items clicked or pressed with Enter, playing across a pin's start — the card is
  exactly the pin covering it (nothing in the gap after the unpin), within 100 ms while
  playing; a deal is said as history only. Buying from the card and from the list places
  orders with ``source: "replay"``, the live's id and the list price, which the creator's
  stats count under ``replay``.
- ``/live/{id}``: "Shop this show" lists the bag, grows with a new pin without a reload,
  says "Pinned now" on the pinned product and sells the others at the list price through
  the live; once the live ends the note links to the replay, and a new visit lists the bag.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.settings import Settings
from tests.http_helpers import http_client
from tests.media_helpers import make_mp4
from tests.pages_helpers import (
    PHONE,
    Browser,
    Site,
    accessibility_problems,
    expect,
    fits_a_phone,
    focus_is_visible,
    register,
    require_browser,
)

pytestmark = pytest.mark.browser

TEE, PLANT = "Sunny cotton tee", "Desk plant in clay pot"  # demo products: $24.00, $32.00
DESKTOP_800 = {"width": 1280, "height": 800}
GAP_S = 1.5  # between the show's steps: distance in time, not synchronisation
SHOW_TITLE = "Sunday seconds"


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


@pytest.fixture
def page_settings(page_settings: Settings, tmp_path: Path) -> Settings:
    """The page tests' settings, serving a recording from a media directory."""
    media = tmp_path / "media"
    make_mp4(media / "show.mp4", 30)
    return replace(page_settings, media_dir=str(media))


def product_id(site: Site, title: str) -> int:
    titles = [t for t, *_ in demo.PRODUCTS]
    return site.shop.product_ids[titles.index(title)]


async def call(site: Site, method: str, path: str, who: Any = demo.CREATOR, **kw: Any) -> Any:
    """An API call as ``who`` (a demo username or a {token, user} session); checks a 2xx."""
    if isinstance(who, str):
        headers = site.auth(who)
    else:
        headers = {"Authorization": f"Bearer {who['token']}"}
    async with http_client(site.url) as http:
        resp = await http.request(method, path, headers=headers, **kw)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None


async def new_live(site: Site) -> int:
    live = (await call(site, "POST", "/api/lives", json={"title": SHOW_TITLE}))["live"]
    await call(site, "POST", f"/api/lives/{live['id']}/start")
    live_id: int = live["id"]
    return live_id


async def pin(site: Site, live_id: int, title: str, deal: dict[str, int] | None = None) -> None:
    body: dict[str, Any] = {"product_id": product_id(site, title)}
    if deal is not None:
        body["deal"] = deal
    await call(site, "POST", f"/api/lives/{live_id}/pin", json=body)


@dataclass
class Show:
    live_id: int
    pins: list[dict[str, Any]]  # the timeline's pin entries: tee (deal), plant, tee

    def mid_s(self, i: int) -> float:
        """The middle of pin ``i``, in seconds of the recording."""
        pin = self.pins[i]
        return float((pin["offset_ms"] + pin["end_offset_ms"]) / 2000)

    @property
    def gap_s(self) -> float:
        """The middle of the gap between the unpin and the tee's second pin."""
        return float((self.pins[1]["end_offset_ms"] + self.pins[2]["offset_ms"]) / 2000)


async def recorded_show(site: Site) -> Show:
    """The show: tee with a deal, plant, unpin, tee again, end; its recording set."""
    live_id = await new_live(site)
    await pin(site, live_id, TEE, {"price_cents": 999, "quantity": 5, "duration_s": 600})
    await asyncio.sleep(GAP_S)
    await pin(site, live_id, PLANT)
    await asyncio.sleep(GAP_S)
    await call(site, "DELETE", f"/api/lives/{live_id}/pin")
    await asyncio.sleep(GAP_S)
    await pin(site, live_id, TEE)
    await asyncio.sleep(GAP_S)
    await call(site, "POST", f"/api/lives/{live_id}/end")
    await call(site, "PATCH", f"/api/lives/{live_id}", json={"recording_url": "/media/show.mp4"})
    timeline = await call(site, "GET", f"/api/lives/{live_id}/timeline")
    pins = [e for e in timeline["timeline"] if e["kind"] == "pin"]
    assert [p["product"]["title"] for p in pins] == [TEE, PLANT, TEE]
    assert pins[1]["end_offset_ms"] < pins[2]["offset_ms"]  # the unpin's gap
    return Show(live_id, pins)


async def seek(page: Any, seconds: float) -> None:
    await page.evaluate("(t) => { document.querySelector('#replay-video').currentTime = t; }",
                        seconds)  # fmt: skip


async def card_is(page: Any, title: str | None) -> None:
    card = page.locator("#replay-card")
    if title is None:
        await expect(card.locator(".card")).to_have_count(0)
        await expect(card.locator(".replay-empty")).to_have_text(
            "Nothing was pinned at this point of the show."
        )
    else:
        await expect(card.locator(".card-title")).to_have_text(title)


async def place_order(page: Any) -> None:
    dialog = page.locator("#buy-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Use saved address")).to_be_checked()
    await dialog.get_by_role("button", name="Place order").click()
    await expect(dialog).to_have_count(0)


async def orders_of(site: Site, session: dict[str, Any]) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = (await call(site, "GET", "/api/orders", session))["orders"]
    return orders


async def test_the_replay_shows_the_card_of_the_moment_and_sells_at_the_list_price(
    site: Site, browser: Browser
) -> None:
    show = await recorded_show(site)
    rita = await register(site, "rita_replays")
    page = await browser.page("replay", f"/replay/{show.live_id}", session=rita)
    await expect(page.locator("#live-title")).to_have_text(SHOW_TITLE)
    await expect(page).to_have_title(f"Replay: {SHOW_TITLE} — livecart")
    await expect(page.get_by_role("link", name="Live page")).to_have_attribute(
        "href", f"/live/{show.live_id}"
    )
    video = page.locator("video#replay-video")
    await expect(video).to_have_attribute("src", "/media/show.mp4")
    await expect(video).to_have_attribute("controls", "")
    await page.wait_for_function("() => document.querySelector('#replay-video').readyState >= 1")
    assert await page.evaluate("() => document.querySelector('#replay-video').duration") >= 29
    await expect(page.locator("#replay-card")).to_have_attribute("aria-live", "polite")
    await card_is(page, None)  # at 0:00.000, a moment before the first pin

    # Set the playhead: each pin, the gap after the unpin, the tee again, back to the plant.
    tee_card = page.locator("#replay-card")
    await seek(page, show.mid_s(1))
    await card_is(page, PLANT)
    await expect(tee_card.locator(".card-history")).to_have_count(0)
    await seek(page, show.mid_s(0))
    await card_is(page, TEE)
    await expect(tee_card.locator(".price-now")).to_have_text("$24.00")  # never the deal's
    await expect(tee_card.locator(".card-history")).to_have_text("Was $9.99 during the show")
    await seek(page, show.gap_s)
    await card_is(page, None)
    await seek(page, show.mid_s(2))
    await card_is(page, TEE)
    await expect(tee_card.locator(".card-history")).to_have_count(0)  # pinned without a deal
    await seek(page, show.mid_s(1))
    await card_is(page, PLANT)

    # "Shop this show": every moment with its time; a tap (or Enter) goes there.
    items = page.locator("#shop-list .shop-item")
    await expect(items).to_have_count(3)
    seeks = page.locator("#shop-list .shop-seek")
    times = [re.escape(f"{p['offset_ms'] // 60_000}:{p['offset_ms'] // 1000 % 60:02d}")
             for p in show.pins]  # fmt: skip
    for i, title in enumerate((TEE, PLANT, TEE)):
        await expect(seeks.nth(i)).to_have_accessible_name(re.compile(f"^{title} at {times[i]}$"))
    for i, title in ((2, TEE), (1, PLANT), (0, TEE)):
        await seeks.nth(i).click()
        await card_is(page, title)
        await expect(items.nth(i)).to_have_class(re.compile(r"\bis-now\b"))
        await expect(seeks.nth(i)).to_have_attribute("aria-current", "time")
        await page.wait_for_function(
            "(ms) => Math.abs(document.querySelector('#replay-video').currentTime * 1000 - ms) < 1",
            arg=show.pins[i]["offset_ms"],
        )
    await expect(page.locator("#shop-list .is-now")).to_have_count(1)
    await seeks.nth(1).focus()
    await page.keyboard.press("Enter")
    await card_is(page, PLANT)

    # Playing across the plant's start: the card changes within 100 ms of the playhead.
    await seek(page, show.mid_s(0))
    await card_is(page, TEE)
    changed_at = await page.evaluate(
        """([start, title]) => new Promise((resolve, reject) => {
            const video = document.querySelector('#replay-video');
            const card = document.querySelector('#replay-card');
            new MutationObserver((_, observer) => {
              if (card.querySelector('.card-title')?.textContent !== title) return;
              observer.disconnect();
              const at = video.currentTime * 1000;
              video.pause();
              resolve(at);
            }).observe(card, { childList: true, subtree: true });
            video.muted = true;
            video.currentTime = (start - 400) / 1000;
            video.play().catch(reject);
          })""",
        [show.pins[1]["offset_ms"], PLANT],
    )
    assert -1 < changed_at - show.pins[1]["offset_ms"] < 100, changed_at  # (ms rounded)

    # Buy the tee from the card where its deal ran: the list price, from the replay.
    await seek(page, show.mid_s(0))
    await card_is(page, TEE)
    await tee_card.get_by_role("button", name="Buy").click()
    await expect(page.locator("#buy-price")).to_have_text("$24.00 each")
    await browser.screenshot(page, "replay-buy-dialog-phone")
    await place_order(page)
    await expect(page.locator("#orders-panel")).to_be_visible()
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    # ...and the plant from the list.
    await page.get_by_role("button", name=f"Buy {PLANT}").click()
    await expect(page.locator("#buy-price")).to_have_text("$32.00 each")
    await place_order(page)
    await expect(page.locator("#orders .order-row")).to_have_count(2)
    placed = await orders_of(site, rita)
    assert sorted(
        (o["product_id"], o["unit_price_cents"], o["source"], o["live_id"]) for o in placed
    ) == sorted([
        (product_id(site, TEE), 2400, "replay", show.live_id),
        (product_id(site, PLANT), 3200, "replay", show.live_id),
    ])  # fmt: skip
    stats = await call(site, "GET", f"/api/lives/{show.live_id}/stats")
    assert (stats["orders"], stats["revenue_cents"]) == (0, 0)
    replayed = stats["replay"]
    assert (replayed["orders"], replayed["units"], replayed["revenue_cents"]) == (2, 2, 5600)
    assert {p["product_id"] for p in replayed["products"]} == {
        product_id(site, TEE), product_id(site, PLANT)}  # fmt: skip

    await seek(page, show.mid_s(0))
    await card_is(page, TEE)
    await page.evaluate("() => document.querySelector('.toasts')?.remove()")
    await page.evaluate("() => scrollTo(0, 0)")
    await fits_a_phone(page, "#main")
    assert await accessibility_problems(page) == []
    assert await focus_is_visible(page) == []
    await browser.screenshot(page, "replay-phone")

    desktop = await browser.page(
        "replay-desktop", f"/replay/{show.live_id}", session=rita, viewport=DESKTOP_800
    )
    await expect(desktop.locator("#shop-list .shop-item")).to_have_count(3)
    await desktop.wait_for_function("() => document.querySelector('#replay-video').readyState >= 2")
    await seek(desktop, show.mid_s(1))
    await card_is(desktop, PLANT)
    await expect(desktop.locator("#orders .order-row")).to_have_count(2)
    assert await accessibility_problems(desktop) == []
    await browser.screenshot(desktop, "replay-desktop")
    browser.assert_no_console_errors()


async def test_a_show_without_a_recording_still_has_its_shop(site: Site, browser: Browser) -> None:
    live_id = await new_live(site)
    await pin(site, live_id, PLANT)
    page = await browser.page("replay", f"/replay/{live_id}", viewport=PHONE)
    await expect(page.locator("#stream .stream-note")).to_have_text(
        "There is no recording of this show yet."
    )
    await expect(page.locator("#replay-note")).to_have_text(
        "This show is still live: reload later for all of it."
    )
    await expect(page.get_by_role("link", name="Watch it live")).to_have_attribute(
        "href", f"/live/{live_id}"
    )
    await card_is(page, None)
    await page.locator("#shop-list .shop-seek").first.click()
    await card_is(page, PLANT)
    # Signed out, Buy asks to sign in first.
    await page.locator("#replay-card").get_by_role("button", name="Buy").click()
    signin = page.get_by_role("dialog", name="Sign in")
    await expect(signin).to_contain_text("Sign in to buy.")
    await signin.get_by_role("button", name="Close").click()
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "replay-no-recording-phone")
    browser.assert_no_console_errors()


async def test_the_live_page_lists_the_shows_bag_and_links_to_the_replay(
    site: Site, browser: Browser
) -> None:
    live_id = await new_live(site)
    await pin(site, live_id, TEE, {"price_cents": 999, "quantity": 5, "duration_s": 600})
    bea = await register(site, "bea_bags")
    page = await browser.page("live", f"/live/{live_id}", session=bea)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await expect(page.locator("#card .card-title")).to_have_text(TEE)
    bag = page.locator("#bag")
    await expect(bag).to_be_visible()
    await expect(bag.locator(".bag-count")).to_have_text("1 product")
    await expect(bag.locator("details")).not_to_have_attribute("open", "")  # closed on a phone
    await bag.get_by_text("Shop this show").click()
    rows = bag.locator(".shop-item")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0).locator(".shop-now")).to_have_text("Pinned now")
    await expect(rows.nth(0).locator(".shop-buy")).to_be_hidden()

    # A new pin: the plant joins the list without a reload and is the one pinned now.
    await pin(site, live_id, PLANT)
    await expect(page.locator("#card .card-title")).to_have_text(PLANT)
    await expect(rows).to_have_count(2)
    await expect(bag.locator(".bag-count")).to_have_text("2 products")
    await expect(rows.nth(1)).to_contain_text(PLANT)
    await expect(rows.nth(1).locator(".shop-now")).to_be_visible()
    await expect(rows.nth(0).locator(".shop-now")).to_be_hidden()
    await expect(rows.nth(0).locator(".shop-price")).to_have_text("$24.00")
    await fits_a_phone(page, "#bag")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "live-bag-phone")

    # The tee, no longer pinned, at its list price through the live.
    await bag.get_by_role("button", name=f"Buy {TEE}").click()
    await expect(page.locator("#buy-price")).to_have_text("$24.00 each")
    await place_order(page)
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    (order,) = await orders_of(site, bea)
    assert (order["product_id"], order["unit_price_cents"], order["live_id"]) == (
        product_id(site, TEE), 2400, live_id)  # fmt: skip
    assert order["source"] != "replay"

    # The end: the note links to the replay; nothing is "Pinned now" any more.
    await call(site, "POST", f"/api/lives/{live_id}/end")
    note = page.locator("#ended-note")
    await expect(note).to_be_visible()
    link = note.get_by_role("link", name="Watch the replay")
    await expect(link).to_have_attribute("href", f"/replay/{live_id}")
    await expect(bag.locator(".shop-now:visible")).to_have_count(0)
    assert navigations == []
    await browser.screenshot(page, "live-ended-phone")
    await link.click()
    await expect(page).to_have_url(re.compile(f"/replay/{live_id}$"))
    await expect(page.locator("#live-title")).to_have_text(SHOW_TITLE)
    await expect(page.locator("#shop-list .shop-item")).to_have_count(2)

    # A later visit to the ended live: the link and the whole bag (open on a wide screen).
    again = await browser.page("live-ended", f"/live/{live_id}", viewport=DESKTOP_800)
    await expect(again.get_by_role("link", name="Watch the replay")).to_be_visible()
    await expect(again.locator("#bag details")).to_have_attribute("open", "")
    await expect(again.locator("#bag .shop-title")).to_have_text([TEE, PLANT])
    assert await accessibility_problems(again) == []
    await browser.screenshot(again, "live-ended-desktop")
    browser.assert_no_console_errors()
