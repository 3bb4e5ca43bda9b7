"""Auctions on the pages (contract "Auctions"; issue #13 item 5): the creator starts one in the
studio, viewers bid with the one-tap button and see the price, the leader, the countdown and
the private "outbid" alert; the close shows the winner banner to everyone and the outcome
(winner, price, order) in the studio. Refusals: no checkout profile opens it, a bid under the
minimum says the new minimum, hosts and moderators get no bid controls, anonymous viewers are
asked to sign in. The close is moved to now in the database, as tests/live/test_auctions.py
does, so no test waits for an auction's clock.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import demo
from tests.auction_helpers import close_now as settled_now
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.pages_helpers import (
    DESKTOP,
    LAMP,
    Browser,
    Site,
    accessibility_problems,
    expect,
    focus_is_visible,
    lamp_id,
    register,
    require_browser,
)

pytestmark = pytest.mark.browser

# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of (403|409) ")
SKEWED_CLOCK = "{ const real = Date.now; Date.now = () => real() + 3600 * 1000; }"
TEN_MINUTES = re.compile(r"^Ends in (10:00|9:5\d)")


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def close_now(server: LiveServer, auction_id: int) -> None:
    await settled_now(server.state, auction_id)


async def api_auction(site: Site, **terms: Any) -> dict[str, Any]:
    lamp = lamp_id(site)
    body = {"product_id": lamp, "start_cents": 2_000, "duration_s": 600, **terms}
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/auctions", json=body, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 201, resp.text
        auction: dict[str, Any] = resp.json()["auction"]
        return auction


async def read_auction(site: Site) -> dict[str, Any]:
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/lives/{site.shop.live_id}/auctions")
        assert resp.status_code == 200, resp.text
        auction: dict[str, Any] = resp.json()["auctions"][0]
        return auction


async def test_an_auction_from_the_studio_to_the_winner(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    ann, bea = await register(site, "ann_bids"), await register(site, "bea_bids")
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    first = await browser.page("ann", site.live, session=ann)
    second = await browser.page("bea", site.live, session=bea)
    form = studio.get_by_role("form", name="Start an auction")
    await expect(form.get_by_label("Product")).to_contain_text(LAMP)
    assert await accessibility_problems(studio) == []
    await form.get_by_label("Product").select_option(str(lamp_id(site)))
    await form.get_by_label("Start price ($)").fill("20")
    await form.get_by_label("Duration (seconds)").fill("600")
    await form.get_by_role("button", name="Start auction").click()
    await expect(form).to_be_hidden()
    await expect(studio.locator("#auction .card-title")).to_have_text(LAMP)
    await expect(studio.locator("#auction-timer")).to_have_text(TEN_MINUTES)

    # The viewers' card: the product card steps aside, the one-tap button bids the minimum.
    for page in (first, second):
        await expect(page.locator("#auction .card-title")).to_have_text(LAMP)
        await expect(page.locator("#card")).to_be_hidden()
        await expect(page.locator("#auction-meta")).to_have_text("No bids yet · starts at $20.00")
        await expect(page.locator("#auction-timer")).to_have_text(TEN_MINUTES)
    await first.locator("#bid-now").click()
    await expect(first.locator("#bid-note")).to_have_text("Your bid of $20.00 is in. You lead.")
    await expect(second.locator("#auction-meta")).to_have_text("Leader: ann_bids · 1 bid")
    await second.get_by_role("button", name="Bid $21.00").click()
    await expect(second.locator("#auction-meta")).to_have_text("You lead · 2 bids")
    await expect(first.locator("#auction-alert")).to_have_text(
        "You've been outbid! The price is now $21.00."
    )
    await expect(first.get_by_role("button", name="Bid $22.00")).to_be_enabled()
    await expect(studio.locator("#auction-price")).to_have_text("$21.00")
    await expect(studio.locator("#auction-meta")).to_have_text("Leader: bea_bids · 2 bids")
    await expect(studio.locator("#auction-bids li")).to_have_count(2)
    for name, page in (("ann", first), ("bea", second), ("studio", studio)):
        assert await accessibility_problems(page) == [], name
    await browser.screenshot(first, "auction-outbid-phone")
    await browser.screenshot(studio, "auction-running-studio")
    await first.set_viewport_size(DESKTOP)
    await browser.screenshot(first, "auction-outbid-desktop")

    auction = await read_auction(site)
    await close_now(served, auction["id"])
    done = await read_auction(site)
    assert (done["status"], done["winner"]["username"], done["price_cents"]) == (
        "sold",
        "bea_bids",
        2_100,
    )
    await expect(second.locator("#auction-outcome")).to_have_text(
        f"You won! Order #{done['order_id']}"
    )
    await expect(first.locator("#auction-outcome")).to_have_text("Sold to bea_bids for $21.00")
    await expect(first.locator("#bid-now")).to_be_hidden()
    await expect(first.locator("#card")).to_be_visible()  # the product card is back
    await expect(studio.locator("#auction-outcome")).to_have_text(
        f"Sold to bea_bids for $21.00 · Order #{done['order_id']}"
    )
    await expect(form).to_be_visible()  # ready for the next one
    await browser.screenshot(second, "auction-won-phone")
    await browser.screenshot(studio, "auction-sold-studio")
    for name, page in (("ann", first), ("bea", second), ("studio", studio)):
        assert await accessibility_problems(page) == [], name
    browser.assert_no_console_errors()


async def test_who_cannot_bid_and_refused_bids(site: Site, browser: Browser) -> None:
    # Any bid extends this one (a bid with less than extend_s left puts extend_s back).
    await api_auction(site, extend_s=600)
    anonymous = await browser.page("anonymous", site.live)
    await expect(anonymous.locator("#auction .card-title")).to_have_text(LAMP)
    # A page whose clock is an hour fast still counts down on the server's clock.
    await anonymous.context.add_init_script(SKEWED_CLOCK)
    asked: list[str] = []
    anonymous.on("request", lambda r: asked.append(r.url) if "/auctions" in r.url else None)
    await anonymous.reload()
    assert await anonymous.evaluate("Date.now() - performance.timeOrigin") > 3_000_000
    await expect(anonymous.locator("#auction-timer")).to_have_text(TEN_MINUTES)
    assert asked == []  # the running auction came in the snapshot: no request per viewer
    await anonymous.get_by_role("button", name="Sign in to bid").click()
    await expect(anonymous.get_by_role("dialog", name="Sign in")).to_contain_text("Sign in to bid")

    # No checkout profile: the profile screen opens instead of a bid.
    cal = await register(site, "cal_bids", profile=False)
    bare = await browser.page("no-profile", site.live, session=cal)
    bare.livecart_log.allowed.append(REFUSED)
    await bare.get_by_role("button", name="Bid $20.00").click()
    await expect(bare.get_by_role("dialog", name="Checkout profile")).to_be_visible()
    await expect(bare.locator("#auction-alert")).to_contain_text(
        "Save a shipping address and a card"
    )

    # An amount under the minimum: the server's next minimum is said and on the button.
    dee = await browser.page("custom", site.live, session=await register(site, "dee_bids"))
    dee.livecart_log.allowed.append(REFUSED)
    await dee.get_by_text("Your own amount or a secret maximum").click()
    await dee.get_by_label("Your bid ($)").fill("25")
    await dee.get_by_label("Secret maximum ($, optional)").fill("40")
    await dee.get_by_role("button", name="Place bid").click()
    await expect(dee.locator("#auction-meta")).to_have_text("You lead · 1 bid")
    await expect(dee.get_by_role("button", name="Bid $26.00")).to_be_visible()
    await expect(dee.locator("#auction-timer")).to_have_text(re.compile(r"\(extended\)$"))
    await dee.get_by_label("Your bid ($)").fill("21")
    await dee.get_by_role("button", name="Place bid").click()
    await expect(dee.locator("#auction-alert")).to_have_text(
        "Too low: the next bid must be at least $26.00."
    )
    assert await accessibility_problems(dee) == []
    assert await focus_is_visible(dee, presses=12) == []
    await browser.screenshot(dee, "auction-custom-bid")

    # The host sees the card without controls; a moderator's bid is refused and hides them.
    host = await browser.page("host", site.live, session=site.session(demo.CREATOR))
    await expect(host.locator("#auction-meta")).to_have_text("Leader: dee_bids · 1 bid")
    await expect(host.locator("#auction")).to_contain_text(
        "Hosts and moderators of this live cannot bid."
    )
    await expect(host.locator("#bid-now")).to_have_count(0)
    mod = await browser.page("moderator", site.live, session=site.session(demo.MODERATOR))
    mod.livecart_log.allowed.append(REFUSED)
    await mod.get_by_role("button", name="Bid $26.00").click()
    await expect(mod.locator("#auction")).to_contain_text(
        "Hosts and moderators of this live cannot bid."
    )
    await expect(mod.locator("#bid-now")).to_have_count(0)
    browser.assert_no_console_errors()


async def test_a_bid_the_page_had_not_seen_moves_the_button(site: Site, browser: Browser) -> None:
    """bid_too_low carries next_min_cents: the button moves to it even when the page never
    got the `bid` frame that raised the minimum (here dropped on its way)."""
    auction = await api_auction(site)
    eve = await browser.page("eve", site.live, session=await register(site, "eve_bids"))
    eve.livecart_log.allowed.append(REFUSED)

    def drop_bid_frames(route: Any) -> None:
        server = route.connect_to_server()
        server.on_message(lambda m: None if '"bid"' in str(m)[:40] else route.send(m))

    await eve.route_web_socket(re.compile(r"/ws/lives/"), drop_bid_frames)
    await eve.reload()
    await expect(eve.get_by_role("button", name="Bid $20.00")).to_be_enabled()
    other = await register(site, "fay_bids")
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/auctions/{auction['id']}/bids",
            json={"amount_cents": 2_000},
            headers={"Authorization": f"Bearer {other['token']}"},
        )
        assert resp.status_code == 201, resp.text
    await eve.get_by_role("button", name="Bid $20.00").click()
    await expect(eve.locator("#auction-alert")).to_have_text(
        "Too low: the next bid must be at least $21.00."
    )
    # The frame never came (else fay_bids would lead here): the button moved on the error.
    await expect(eve.locator("#auction-meta")).to_have_text("No bids yet · starts at $20.00")
    bid = eve.get_by_role("button", name="Bid $21.00")
    await bid.focus()
    await eve.keyboard.press("Enter")
    await expect(eve.locator("#bid-note")).to_have_text("Your bid of $21.00 is in. You lead.")
    await expect(eve.get_by_role("button", name="Bid $22.00")).to_be_focused()  # kept the focus
    browser.assert_no_console_errors()


async def test_unsold_when_nobody_can_pay(site: Site, served: LiveServer, browser: Browser) -> None:
    auction = await api_auction(site)
    studio = await browser.page("studio", site.studio, session=site.session(demo.CREATOR))
    gus = await register(site, "gus_bids", card="tok_declined")
    page = await browser.page("gus", site.live, session=gus)
    await page.get_by_role("button", name="Bid $20.00").click()
    await expect(studio.locator("#auction-meta")).to_have_text("Leader: gus_bids · 1 bid")
    await close_now(served, auction["id"])
    await expect(page.locator("#auction-outcome")).to_have_text("Unsold")
    await expect(page.locator("#auction-meta")).to_have_text("Nobody could pay · 1 bid")
    await expect(studio.locator("#auction-outcome")).to_have_text(
        "Unsold: nobody could pay. The unit is back in stock. (gus_bids could not pay $20.00)"
    )
    await browser.screenshot(studio, "auction-unsold-studio-phone")
    assert await accessibility_problems(studio) == []
    browser.assert_no_console_errors()
