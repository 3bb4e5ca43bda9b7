"""Comment-to-buy and waitlists on the pages (issue 14, deliverable 4), in a phone-sized
Chromium (390×844):

- the studio pins with a claim keyword (a bad one refused next to its input, in the page's
  words before sending and in the server's after), with or without a deal; the viewer card
  says "Type SOLD in chat to buy"; a viewer with a saved profile types "sold" in chat and is
  told "Bought by comment"; refused claims (no profile, over the deal's limit) get one
  readable toast, and chat refusals stay in the chat's note;
- a sold-out product: "Notify me" joins its waitlist ("You're #1"), a claim typed while sold
  out joins it too ("Sold out — you're #2"), Leave; the creator's studio lists who waits and
  follows a restock, which turns the first place into an order ("A unit came back");
- joining refused: signed out (sign-in dialog), no checkout profile (the profile opens), a
  card that missed the restock (409 ``in_stock``: Buy comes back), and a declined card's
  turn skipped (``waitlist_skipped``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app import demo
from tests.http_helpers import http_client
from tests.pages_helpers import (
    LAMP,
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
REFUSED = re.compile(r"status of (401|409|422) ")


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def pin_lamp(site: Site, keyword: str | None) -> None:
    body = {"product_id": lamp_id(site), "claim_keyword": keyword}
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin", json=body, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text


async def set_stock(site: Site, stock: int) -> dict[str, Any]:
    async with http_client(site.url) as http:
        resp = await http.patch(
            f"/api/products/{lamp_id(site)}", json={"stock": stock}, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text
        product: dict[str, Any] = resp.json()["product"]
        return product


async def orders_of(site: Site, session: dict[str, Any]) -> list[dict[str, Any]]:
    async with http_client(site.url) as http:
        resp = await http.get(
            "/api/orders", headers={"Authorization": f"Bearer {session['token']}"}
        )
        assert resp.status_code == 200, resp.text
        orders: list[dict[str, Any]] = resp.json()["orders"]
        return orders


async def waiting(site: Site) -> list[str]:
    async with http_client(site.url) as http:
        resp = await http.get(
            f"/api/products/{lamp_id(site)}/waitlist", headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text
        return [e["user"]["username"] for e in resp.json()["waitlist"]]


async def say(page: Any, text: str) -> None:
    """Send ``text`` in chat and wait for it to come back as a chat line."""
    lines = page.locator(".chat-log .chat-text").get_by_text(text, exact=True)
    before = await lines.count()
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send").click()
    await expect(lines).to_have_count(before + 1)


def toast(page: Any, text: str) -> Any:
    return page.locator(".toast", has_text=text)


async def test_a_claim_typed_in_chat_buys_the_pinned_product(site: Site, browser: Browser) -> None:
    ann = await register(site, "ann_claims")
    bare = await register(site, "bare_claims", profile=False)
    studio = await browser.page("studio", site.studio, session=site.session(demo.CREATOR))
    studio.livecart_log.allowed.append(REFUSED)
    viewer = await browser.page("ann", site.live, session=ann)
    nobody = await browser.page("no-profile", site.live, session=bare)
    card = viewer.locator("#card")
    # The demo's mug is pinned without a keyword: no hint.
    await expect(card.locator(".card-title")).to_have_text("Blue stoneware mug")
    await expect(card.locator(".card-claim")).to_have_count(0)

    # Not a keyword: said next to the input, nothing sent.
    keyword = studio.get_by_label("Claim keyword (optional)")
    await keyword.fill("SOLD 2")
    await studio.get_by_role("button", name=f"Pin {LAMP}", exact=True).click()
    await expect(studio.locator("#claim-keyword-error")).to_have_text(
        "The claim keyword must be 1 to 20 letters, "
        "no spaces, digits or punctuation (such as SOLD)."
    )
    await expect(keyword).to_have_attribute("aria-invalid", "true")
    await expect(keyword).to_be_focused()
    await fits_a_phone(studio, "#products-panel")
    await browser.screenshot(studio, "studio-keyword-refused-phone")

    # The deal dialog carries the shelf's keyword; the server's 422 shows under it too.
    await keyword.fill("SOLD")
    await expect(studio.locator("#claim-keyword-error")).to_have_count(0)
    await studio.get_by_role("button", name=f"Pin {LAMP} with a deal").click()
    dialog = studio.locator("#deal-dialog")
    await expect(dialog.get_by_label("Claim keyword (optional)")).to_have_value("SOLD")
    await dialog.get_by_label("Deal price").fill("36.00")
    await dialog.get_by_label("Quantity at this price").fill("4")
    await dialog.get_by_label("Per-buyer limit").fill("2")

    async def garble(route: Any) -> None:  # what the page would not send: the server says no
        body = json.loads(route.request.post_data)
        await route.continue_(post_data=json.dumps({**body, "claim_keyword": "S0LD"}))

    await studio.route("**/api/lives/*/pin", garble)
    await dialog.get_by_role("button", name="Pin with deal").click()
    await expect(dialog.locator("#deal-keyword-error")).to_have_text(
        "Must be letters only, such as SOLD"
    )
    await studio.unroute("**/api/lives/*/pin", garble)
    await dialog.get_by_role("button", name="Pin with deal").click()
    await expect(dialog).to_have_count(0)

    # The viewers' card says how to buy by comment; so does the studio's.
    hint = "Type SOLD in chat to buy · SOLD 2 for two"
    await expect(card.locator(".card-title")).to_have_text(LAMP)
    await expect(card.locator(".card-claim")).to_have_text(hint)
    await expect(studio.locator("#pinned-card .card-claim")).to_have_text(hint)
    await expect(studio.locator(f"#products [data-product-id='{lamp_id(site)}']")).to_contain_text(
        "Pinned"
    )
    await fits_a_phone(viewer, "#card")
    await browser.screenshot(viewer, "viewer-claim-hint-phone")

    # "sold" in chat: an order at the deal price, told to the buyer alone.
    await say(viewer, "sold")
    await expect(toast(viewer, "Bought by comment: ")).to_be_visible()
    (order,) = [o for o in await orders_of(site, ann) if o["product_id"] == lamp_id(site)]
    assert (order["source"], order["quantity"], order["unit_price_cents"]) == ("comment", 1, 3_600)
    bought = f"Bought by comment: {LAMP} × 1 for $36.00 (order #{order['id']})."
    await expect(toast(viewer, bought)).to_be_visible()
    await expect(viewer.locator(f"#orders [data-order-id='{order['id']}']")).to_be_visible()
    await expect(toast(nobody, "Bought by comment")).to_have_count(0)
    await browser.screenshot(viewer, "viewer-bought-by-comment-phone")

    # Over the deal's limit: one toast in plain words, no chat note, nothing bought.
    await say(viewer, "SOLD 2!")
    await expect(toast(viewer, "Not bought: the deal allows 2 per buyer.")).to_be_visible()
    await expect(viewer.locator(".chat-note")).to_be_hidden()
    assert len(await orders_of(site, ann)) == 1

    # No checkout profile: said once, and the profile opens to fix it.
    await say(nobody, "Sold")
    await expect(
        toast(nobody, "To buy by comment, save a shipping address and a card first")
    ).to_be_visible()
    await expect(nobody.get_by_role("dialog", name="Checkout profile")).to_be_visible()
    await expect(nobody.locator(".toast")).to_have_count(1)
    assert await orders_of(site, bare) == []
    await nobody.get_by_role("dialog").get_by_role("button", name="Close").click()

    # A chat refusal stays the chat's: muted, the note says so and no claim toast comes.
    async with http_client(site.url) as http:
        resp = await http.put(
            f"/api/lives/{site.shop.live_id}/mutes/ann_claims",
            json={"duration_s": 60},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text
    await viewer.get_by_label("Message", exact=True).fill("sold")
    await viewer.get_by_role("button", name="Send").click()
    await expect(viewer.locator(".chat-note")).to_contain_text("You are muted")
    await expect(toast(viewer, "muted")).to_have_count(0)  # said once, by the chat
    assert len(await orders_of(site, ann)) == 1
    for page in (viewer, studio, nobody):
        assert await accessibility_problems(page) == []
    browser.assert_no_console_errors()


async def test_a_sold_out_product_s_waitlist_from_joining_to_the_order(
    site: Site, browser: Browser
) -> None:
    await set_stock(site, 0)
    await pin_lamp(site, "SOLD")
    ann, ben = await register(site, "ann_waits"), await register(site, "ben_waits")
    first = await browser.page("ann", site.live, session=ann)
    second = await browser.page("ben", site.live, session=ben)
    for page in (first, second):
        card = page.locator("#card")
        await expect(card.locator(".card-kicker")).to_have_text("Sold out")
        await expect(card.locator(".card-claim")).to_have_text(
            "Type SOLD in chat to join the waitlist"
        )
        await expect(card.get_by_role("button", name="Sold out")).to_be_disabled()

    # Notify me: ann's place, and Leave.
    await first.get_by_role("button", name="Notify me").click()
    await expect(first.locator("#waitlist-place")).to_have_text("You're #1 on the waitlist.")
    await expect(first.get_by_role("button", name="Notify me")).to_be_hidden()
    await expect(first.get_by_role("button", name="Leave the waitlist")).to_be_visible()
    await fits_a_phone(first, "#card")
    await browser.screenshot(first, "viewer-waitlist-joined-phone")

    # A claim typed while sold out joins the waitlist too.
    await say(second, "Sold!")
    await expect(toast(second, f"Sold out — you're #2 on the waitlist for {LAMP}.")).to_be_visible()
    await expect(second.locator("#waitlist-place")).to_have_text("You're #2 on the waitlist.")
    assert await waiting(site) == ["ann_waits", "ben_waits"]

    # The creator's studio: who waits, first served first.
    studio = await browser.page("studio", site.studio, session=site.session(demo.CREATOR))
    row = studio.locator(f"#products [data-product-id='{lamp_id(site)}']")
    toggle = row.get_by_role("button", name="Waitlist (2)")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    entries = row.locator(".waitlist-entries li")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_contain_text("#1 ann_waits · 1 unit")
    await expect(entries.nth(1)).to_contain_text("#2 ben_waits · 1 unit")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await fits_a_phone(studio, "#products-panel")
    await browser.screenshot(studio, "studio-waitlist-phone")

    # Leave, seen in the studio on Refresh; joining again goes to the back.
    await second.get_by_role("button", name="Leave the waitlist").click()
    await expect(second.locator("#waitlist-place")).to_have_text("You left the waitlist.")
    await expect(second.get_by_role("button", name="Notify me")).to_be_focused()
    await row.get_by_role("button", name=f"Refresh the waitlist of {LAMP}").click()
    await expect(entries).to_have_count(1)
    await expect(row.get_by_role("button", name="Waitlist (1)")).to_be_visible()
    await second.get_by_role("button", name="Notify me").click()
    await expect(second.locator("#waitlist-place")).to_have_text("You're #2 on the waitlist.")

    # A unit comes back: the first place becomes an order; the studio's list follows.
    assert (await set_stock(site, 1))["stock"] == 0
    (order,) = await orders_of(site, ann)
    assert (order["source"], order["quantity"], order["unit_price_cents"]) == ("waitlist", 1, 4_500)
    came = f"A unit came back: it's yours! {LAMP} × 1 for $45.00 (order #{order['id']})."
    await expect(toast(first, came)).to_be_visible()
    await expect(first.locator(f"#orders [data-order-id='{order['id']}']")).to_be_visible()
    await expect(first.get_by_role("button", name="Notify me")).to_be_visible()
    await expect(first.locator("#waitlist-place")).to_be_hidden()
    await expect(toast(second, "A unit came back")).to_have_count(0)
    await expect(entries).to_have_count(1)  # read again after the stock frame
    await expect(entries.nth(0)).to_contain_text("#1 ben_waits")
    await expect(row.get_by_role("button", name="Waitlist (1)")).to_be_visible()
    await browser.screenshot(first, "viewer-waitlist-served-phone")
    for page in (first, second, studio):
        assert await accessibility_problems(page) == []
    browser.assert_no_console_errors()


async def test_joining_refused_and_a_skipped_turn(site: Site, browser: Browser) -> None:
    await set_stock(site, 0)
    await pin_lamp(site, None)
    dee = await register(site, "dee_waits", card="tok_declined")
    cal = await register(site, "cal_waits", profile=False)
    eve = await register(site, "eve_waits")
    declined = await browser.page("dee", site.live, session=dee)
    await expect(declined.locator("#card .card-claim")).to_have_count(0)  # no keyword
    await declined.get_by_role("button", name="Notify me").click()
    await expect(declined.locator("#waitlist-place")).to_have_text("You're #1 on the waitlist.")

    # Signed out: sign in first.
    anonymous = await browser.page("anonymous", site.live)
    await anonymous.get_by_role("button", name="Notify me").click()
    await expect(anonymous.get_by_role("dialog", name="Sign in")).to_contain_text(
        "Sign in to join the waitlist"
    )

    # No checkout profile: said on the card, and the profile opens.
    bare = await browser.page("no-profile", site.live, session=cal)
    bare.livecart_log.allowed.append(REFUSED)
    await bare.get_by_role("button", name="Notify me").click()
    await expect(bare.get_by_role("dialog", name="Checkout profile")).to_be_visible()
    await expect(bare.locator("#waitlist-alert")).to_have_text(
        "Save a shipping address and a card first: when a unit comes back, "
        "the order is placed with them."
    )

    # A page that missed the restock's stock frame: 409 in_stock, and Buy comes back.
    stale = await browser.page("stale", site.live, session=eve)
    stale.livecart_log.allowed.append(REFUSED)

    def drop_stock_frames(route: Any) -> None:
        server = route.connect_to_server()
        server.on_message(lambda m: None if json.loads(m).get("type") == "stock" else route.send(m))

    await stale.route_web_socket(re.compile(r"/ws/lives/"), drop_stock_frames)
    await stale.reload()
    await expect(stale.get_by_role("button", name="Notify me")).to_be_visible()

    # Two units back: dee's card is declined, so the turn is skipped and both stay for sale.
    assert (await set_stock(site, 2))["stock"] == 2
    await expect(
        toast(declined, f"Your turn on the waitlist for {LAMP} was skipped: ")
    ).to_contain_text("the payment was declined. Choose another card")
    await expect(declined.locator("#waitlist-place")).to_be_hidden()
    await expect(declined.locator("#card .btn-buy")).to_have_text("Buy")
    assert await waiting(site) == []

    await expect(stale.locator("#card .card-kicker")).to_have_text("Sold out")  # still stale
    await stale.get_by_role("button", name="Notify me").click()
    await expect(stale.locator("#waitlist-alert")).to_have_text("It is back in stock: buy it now.")
    await expect(stale.locator("#card .btn-buy")).to_be_enabled()
    await expect(stale.locator("#card .card-stock")).to_have_text("Only 2 left")
    await expect(stale.get_by_role("button", name="Notify me")).to_be_hidden()
    await fits_a_phone(stale, "#card")
    await browser.screenshot(stale, "viewer-waitlist-in-stock-phone")
    for page in (bare, stale, declined):
        assert await accessibility_problems(page) == []
    browser.assert_no_console_errors()
