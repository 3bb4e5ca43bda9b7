"""Giveaways on the pages, in Chromium: the creator starts one from the studio's Giveaway
panel; a viewer with a saved address and card, on a phone, sees the card ("Free giveaway — no
purchase necessary", the countdown, the keyword), presses Enter and is told "You're in" with
the count; at the draw the winner reads "You won!" (and gets the zero-price order), everyone
else the winner's name, and the studio the winner, the order and the seed. Who cannot enter:
signed out (sign-in dialog), no checkout profile (the profile opens), the host and moderators;
the keyword typed in chat enters too, and a reload still says "You're in". A giveaway nobody
entered ends with "No entries — no winner" and the unit back in stock; a winner whose card
check fails is told the prize could not be sent. Start refusals in the studio: a bad keyword,
the pin's claim keyword.

A giveaway lasts at least 10 s and is drawn by the server's clock: two tests wait for that
(on page text, with a timeout); the third moves its end to now, as tests/app's do.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import demo
from tests.giveaway_helpers import end_now, recomputed_winner
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.pages_helpers import (
    DESKTOP,
    LAMP,
    PHONE,
    Browser,
    Site,
    accessibility_problems,
    expect,
    fits_a_phone,
    lamp_id,
    register,
    require_browser,
)

pytestmark = pytest.mark.browser

# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of (409) ")
DRAW_WAIT_MS = 30_000  # a 10 or 20 s giveaway, started a moment before
COUNTDOWN = re.compile(r"^Draw in 0:\d\d$")


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def start_giveaway(site: Site, **terms: Any) -> dict[str, Any]:
    body = {"product_id": lamp_id(site), "duration_s": 600, **terms}
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/giveaways", json=body, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 201, resp.text
        giveaway: dict[str, Any] = resp.json()["giveaway"]
        return giveaway


async def newest_giveaway(site: Site) -> dict[str, Any]:
    """The live's newest giveaway, read alone: {giveaway, entrants} (entrants once drawn)."""
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/lives/{site.shop.live_id}/giveaways")
        assert resp.status_code == 200, resp.text
        giveaway_id = resp.json()["giveaways"][0]["id"]
        resp = await http.get(f"/api/giveaways/{giveaway_id}")
        assert resp.status_code == 200, resp.text
        read: dict[str, Any] = resp.json()
        return read


async def lamp_stock(site: Site) -> int:
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/products/{lamp_id(site)}")
        assert resp.status_code == 200, resp.text
        stock: int = resp.json()["product"]["stock"]
        return stock


async def orders_of(site: Site, session: dict[str, Any]) -> list[dict[str, Any]]:
    async with http_client(site.url) as http:
        resp = await http.get(
            "/api/orders", headers={"Authorization": f"Bearer {session['token']}"}
        )
        assert resp.status_code == 200, resp.text
        orders: list[dict[str, Any]] = resp.json()["orders"]
        return orders


async def element_shot(browser: Browser, part: Any, name: str) -> None:
    """A screenshot of one part of a page, without the toasts that would cover it."""
    toggle = "(on) => document.querySelector('.toasts')?.toggleAttribute('hidden', on)"
    browser.shots.mkdir(parents=True, exist_ok=True)
    await part.page.evaluate(toggle, True)
    await part.screenshot(path=str(browser.shots / f"{name}.png"), animations="disabled")
    await part.page.evaluate(toggle, False)


async def test_a_giveaway_from_the_studio_to_the_winner(site: Site, browser: Browser) -> None:
    ann = await register(site, "ann_gives")
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    viewer = await browser.page("ann", site.live, session=ann)
    anonymous = await browser.page("anonymous", site.live)
    for page in (viewer, anonymous):  # connected: the snapshot came
        await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
        await expect(page.locator("#giveaway")).to_be_hidden()
    form = studio.get_by_role("form", name="Start a giveaway")
    await expect(form.get_by_label("Prize")).to_contain_text(f"{LAMP} (6 in stock)")
    await expect(form.get_by_label("Duration (seconds)")).to_have_value("60")
    await expect(studio.locator("#no-giveaway")).to_be_visible()
    assert await accessibility_problems(studio) == []
    await element_shot(browser, studio.locator("#giveaway-panel"), "giveaway-studio-form-desktop")

    await form.get_by_label("Prize").select_option(str(lamp_id(site)))
    await form.get_by_label("Duration (seconds)").fill("20")
    await form.get_by_label("Entry keyword (optional)").fill("WIN")
    await form.get_by_role("button", name="Start giveaway").click()
    await expect(form).to_be_hidden()
    await expect(studio.locator("#studio-giveaway-title")).to_have_text(LAMP)
    await expect(studio.locator("#studio-giveaway-timer")).to_have_text(COUNTDOWN)
    await expect(studio.locator("#studio-giveaway-keyword")).to_contain_text("Keyword: WIN")

    # The viewers' card: free, a countdown, the keyword; anonymous viewers sign in to enter.
    card = viewer.locator("#giveaway")
    await expect(card.locator(".card-title")).to_have_text(LAMP)
    await expect(card).to_contain_text("Free giveaway — no purchase necessary")
    await expect(viewer.locator("#giveaway-timer")).to_have_text(COUNTDOWN)
    await expect(viewer.locator("#giveaway-keyword")).to_have_text("or type WIN in chat")
    await expect(viewer.locator("#giveaway-entries")).to_have_text("0 entries")
    await expect(anonymous.get_by_role("button", name="Sign in to enter")).to_be_visible()
    await viewer.get_by_role("button", name="Enter", exact=True).click()
    await expect(viewer.locator("#giveaway-note")).to_have_text("You're in — good luck!")
    await expect(viewer.locator("#giveaway-entries")).to_have_text("1 entry")
    await expect(viewer.locator("#giveaway-enter")).to_be_disabled()
    await expect(viewer.locator("#giveaway-keyword")).to_be_hidden()
    await expect(studio.locator("#studio-giveaway-entries")).to_have_text("1 entry")
    # The other viewers' count follows every few seconds.
    await expect(anonymous.locator("#giveaway-entries")).to_have_text("1 entry", timeout=10_000)
    await fits_a_phone(viewer, "#giveaway")
    for name, page in (("ann", viewer), ("anonymous", anonymous), ("studio", studio)):
        assert await accessibility_problems(page) == [], name
    await browser.screenshot(viewer, "giveaway-open-phone")
    await element_shot(browser, viewer.locator("#giveaway"), "giveaway-card-open-phone")
    await element_shot(browser, studio.locator("#giveaway-panel"), "giveaway-studio-open-desktop")
    await anonymous.set_viewport_size(DESKTOP)
    await browser.screenshot(anonymous, "giveaway-open-desktop")

    # The draw: ann is the only entrant.
    await expect(viewer.locator("#giveaway-outcome")).to_have_text(
        "You won! Your order is on its way", timeout=DRAW_WAIT_MS
    )
    await expect(anonymous.locator("#giveaway-outcome")).to_have_text(f"🎉 @ann_gives won {LAMP}")
    await expect(viewer.locator("#giveaway-entries")).to_have_text("Drawn from 1 entry")
    await expect(viewer.locator("#giveaway-enter")).to_be_hidden()
    await expect(viewer.locator("#giveaway-timer")).to_be_hidden()
    # The prize order is placed just after the draw; its `order` frame lists it.
    await expect(viewer.locator("#orders .order-row")).to_have_count(1)
    (order,) = [o for o in await orders_of(site, ann) if o["source"] == "giveaway"]
    assert (order["product_id"], order["total_cents"], order["quantity"]) == (lamp_id(site), 0, 1)
    await expect(viewer.locator(f"#orders [data-order-id='{order['id']}']")).to_be_visible()
    await expect(studio.locator("#studio-giveaway-outcome")).to_have_text(
        f"Won by ann_gives · Order #{order['id']}"
    )
    await expect(studio.locator("#studio-giveaway-entries")).to_have_text("1 entry")
    await expect(form).to_be_visible()  # ready for the next one

    read = await newest_giveaway(site)
    drawn = read["giveaway"]
    assert drawn["status"] == "drawn" and drawn["winner"]["username"] == "ann_gives"
    assert drawn["order_id"] == order["id"]
    assert [e["username"] for e in read["entrants"]] == ["ann_gives"]
    assert recomputed_winner(read) == drawn["winner"]  # the seed matches its hash too
    await expect(studio.locator("#studio-giveaway-facts")).to_contain_text(drawn["seed"])

    # "Check the draw": the seed, its hash published at the start, the entrants.
    await anonymous.get_by_text("Check the draw").click()
    facts = anonymous.locator("#giveaway-facts")
    await expect(facts).to_contain_text(drawn["seed_hash"])
    await expect(facts).to_contain_text(drawn["seed"])
    await expect(anonymous.locator("#giveaway-entrants")).to_have_text("1")
    await browser.screenshot(anonymous, "giveaway-won-others-desktop")
    await viewer.get_by_text("Check the draw").click()
    await expect(viewer.locator("#giveaway-facts")).to_contain_text(drawn["seed"])
    await fits_a_phone(viewer, "#giveaway")
    await browser.screenshot(viewer, "giveaway-won-phone")
    await element_shot(browser, viewer.locator("#giveaway"), "giveaway-card-won-phone")
    await viewer.set_viewport_size(DESKTOP)
    await browser.screenshot(viewer, "giveaway-won-desktop")
    await element_shot(browser, studio.locator("#giveaway-panel"), "giveaway-studio-won-desktop")
    await element_shot(browser, viewer.locator("#giveaway"), "giveaway-card-won-desktop")
    for name, page in (("ann", viewer), ("anonymous", anonymous), ("studio", studio)):
        assert await accessibility_problems(page) == [], name

    # Dismissed, the card is gone.
    await anonymous.get_by_role("button", name="Dismiss").click()
    await expect(anonymous.locator("#giveaway")).to_be_hidden()
    browser.assert_no_console_errors()


async def test_who_can_enter_and_the_keyword_in_chat(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    giveaway = await start_giveaway(site, keyword="WIN")

    # Signed out: sign in first.
    anonymous = await browser.page("anonymous", site.live)
    await anonymous.get_by_role("button", name="Sign in to enter").click()
    await expect(anonymous.get_by_role("dialog", name="Sign in")).to_contain_text(
        "Sign in to enter the giveaway"
    )

    # No checkout profile: said in a toast, and the profile opens to fix it.
    cal = await register(site, "cal_gives", profile=False)
    bare = await browser.page("no-profile", site.live, session=cal)
    await bare.get_by_role("button", name="Enter", exact=True).click()
    await expect(
        bare.locator(".toast", has_text="To enter, save a shipping address and a card first")
    ).to_be_visible()
    await expect(bare.get_by_role("dialog", name="Checkout profile")).to_be_visible()
    await expect(bare.locator("#giveaway-entries")).to_have_text("0 entries")
    await expect(bare.locator("#giveaway-enter")).to_be_enabled()

    # The host sees the card without the button; a moderator's entry is refused and hides it.
    host = await browser.page("host", site.live, session=site.session(demo.CREATOR))
    await expect(host.locator("#giveaway-staff")).to_have_text(
        "Hosts and moderators of this live cannot enter."
    )
    await expect(host.locator("#giveaway-enter")).to_have_count(0)
    mod = await browser.page("moderator", site.live, session=site.session(demo.MODERATOR))
    await mod.get_by_role("button", name="Enter", exact=True).click()
    await expect(mod.locator("#giveaway-staff")).to_be_visible()
    await expect(mod.locator("#giveaway-enter")).to_have_count(0)

    # The keyword typed in chat enters; after a reload the card still says so.
    declined = await register(site, "dee_gives", card="tok_declined")
    dee = await browser.page("dee", site.live, session=declined)
    await expect(dee.locator("#giveaway-keyword")).to_have_text("or type WIN in chat")
    await dee.get_by_label("Message", exact=True).fill("win!")
    await dee.get_by_role("button", name="Send").click()
    await expect(dee.locator("#giveaway-note")).to_have_text("You're in — good luck!")
    await expect(dee.locator("#giveaway-entries")).to_have_text("1 entry")
    await dee.reload()
    await expect(dee.locator("#giveaway-note")).to_have_text("You're in — good luck!")
    await expect(dee.get_by_role("button", name="Entered")).to_be_disabled()
    await fits_a_phone(dee, "#giveaway")
    await element_shot(browser, dee.locator("#giveaway"), "giveaway-card-keyword-entered-phone")
    for name, page in (("no-profile", bare), ("host", host), ("moderator", mod), ("dee", dee)):
        assert await accessibility_problems(page) == [], name

    # dee wins, but the card check of the prize order fails: no order, the unit is back.
    await end_now(served.state.db, giveaway["id"])
    await expect(host.locator("#giveaway-outcome")).to_have_text(f"🎉 @dee_gives won {LAMP}")
    await expect(dee.locator("#giveaway-outcome")).to_have_text(
        "You won, but the prize could not be sent: payment declined.", timeout=15_000
    )
    drawn = (await newest_giveaway(site))["giveaway"]
    assert (drawn["unclaimed"], drawn["order_id"]) == ("payment_declined", None)
    assert await lamp_stock(site) == 6
    assert [o for o in await orders_of(site, declined) if o["source"] == "giveaway"] == []
    await element_shot(browser, dee.locator("#giveaway"), "giveaway-card-unclaimed-phone")
    browser.assert_no_console_errors()


async def test_refused_starts_and_a_giveaway_nobody_entered(site: Site, browser: Browser) -> None:
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin",
            json={"product_id": lamp_id(site), "claim_keyword": "SOLD"},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=PHONE
    )
    studio.livecart_log.allowed.append(REFUSED)
    viewer = await browser.page("viewer", site.live)
    await expect(viewer.locator("#card .card-title")).to_have_text(LAMP)
    form = studio.get_by_role("form", name="Start a giveaway")
    await form.get_by_label("Prize").select_option(str(lamp_id(site)))
    keyword = form.get_by_label("Entry keyword (optional)")
    await keyword.fill("WIN 2")
    await form.get_by_role("button", name="Start giveaway").click()
    await expect(form.locator(".form-error")).to_have_text(
        "The keyword must be 1 to 20 letters, no spaces, digits or punctuation (such as WIN)."
    )
    await expect(keyword).to_be_focused()
    await keyword.fill("sold")
    await form.get_by_role("button", name="Start giveaway").click()
    await expect(form.locator(".form-error")).to_have_text(
        "That keyword is the pinned product's claim keyword: choose another one."
    )
    await fits_a_phone(studio, "#giveaway-panel")
    assert await accessibility_problems(studio) == []
    await element_shot(browser, studio.locator("#giveaway-panel"), "giveaway-studio-refused-phone")

    # No keyword, ten seconds, nobody enters: no winner, and the unit is back.
    await keyword.fill("")
    await form.get_by_label("Duration (seconds)").fill("10")
    await form.get_by_role("button", name="Start giveaway").click()
    await expect(studio.locator("#studio-giveaway-keyword")).to_have_text(
        "No keyword: viewers enter with the Enter button."
    )
    await expect(viewer.locator("#giveaway .card-title")).to_have_text(LAMP)
    await expect(viewer.locator("#giveaway-keyword")).to_have_count(0)
    assert await lamp_stock(site) == 5  # one unit held
    await fits_a_phone(studio, "#giveaway-panel")
    await element_shot(browser, studio.locator("#giveaway-panel"), "giveaway-studio-open-phone")
    await expect(viewer.locator("#giveaway-outcome")).to_have_text(
        "No entries — no winner", timeout=DRAW_WAIT_MS
    )
    await expect(viewer.locator("#giveaway-entries")).to_have_text("Drawn from 0 entries")
    await expect(studio.locator("#studio-giveaway-outcome")).to_have_text(
        "No entries — no winner. The unit goes back in stock."
    )
    await expect(studio.locator(f"#products [data-product-id='{lamp_id(site)}']")).to_contain_text(
        "6 in stock"
    )
    assert await lamp_stock(site) == 6
    await fits_a_phone(viewer, "#giveaway")
    await fits_a_phone(studio, "#giveaway-panel")
    for name, page in (("viewer", viewer), ("studio", studio)):
        assert await accessibility_problems(page) == [], name
    await element_shot(browser, viewer.locator("#giveaway"), "giveaway-card-no-winner-phone")
    await element_shot(
        browser, studio.locator("#giveaway-panel"), "giveaway-studio-no-winner-phone"
    )
    browser.assert_no_console_errors()
