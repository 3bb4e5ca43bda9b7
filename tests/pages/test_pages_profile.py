"""The checkout profile on the viewer page (contract "Checkout profile"; issue #13 item 5):
reached from Account, it shows and saves the address and the card (test tokens), with the
server's refusals next to the fields; the buy dialog uses the saved address and card.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import demo
from tests.http_helpers import http_client
from tests.pages_helpers import (
    DESKTOP,
    Browser,
    Site,
    accessibility_problems,
    expect,
    require_browser,
)

pytestmark = pytest.mark.browser

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
SAVED_LINE = "Ada Lovelace, 12 St James's Square, London SW1Y 4JH, GB"
# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of (402|422) ")


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def put(site: Site, who: str, path: str, body: dict[str, Any]) -> None:
    async with http_client(site.url) as http:
        resp = await http.put(path, json=body, headers=site.auth(who))
        assert resp.status_code == 200, resp.text


async def me(site: Site, who: str) -> dict[str, Any]:
    async with http_client(site.url) as http:
        resp = await http.get("/api/me", headers=site.auth(who))
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found


async def open_profile(page: Any) -> Any:
    await page.get_by_role("button", name="Account").click()
    await (
        page.get_by_role("dialog", name="Your account")
        .get_by_role("button", name="Checkout profile")
        .click()
    )
    dialog = page.get_by_role("dialog", name="Checkout profile")
    await expect(dialog).to_be_visible()
    return dialog


async def test_the_checkout_profile_saves_an_address_and_a_card(
    site: Site, browser: Browser
) -> None:
    page = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    page.livecart_log.allowed.append(REFUSED)
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    dialog = await open_profile(page)
    await expect(dialog.locator("#profile-address-now")).to_have_text("No saved address yet.")
    await expect(dialog.locator("#profile-card-now")).to_have_text("No saved card yet.")
    await expect(dialog.get_by_label("Full name")).to_be_focused()
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "profile-empty")

    # The server's 422 names the field: the message sits under that input.
    address = dialog.get_by_role("form", name="Shipping address")
    name = address.get_by_label("Full name")
    await name.fill("Ada \u202elecalovoL")  # a right-to-left override: refused by the server
    await address.get_by_label("Address", exact=True).fill(ADDRESS["line1"])
    await address.get_by_label("City").fill(ADDRESS["city"])
    await address.get_by_label("Postal code").fill(ADDRESS["postal_code"])
    await address.get_by_label("Country").fill("gb")
    await address.get_by_role("button", name="Save address").click()
    error = address.locator("#profile-name-error")
    await expect(error).to_contain_text("bidirectional")
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_have_attribute("aria-describedby", "profile-name-error")
    await expect(name).to_be_focused()
    await browser.screenshot(page, "profile-address-refused")
    assert await accessibility_problems(page) == []
    await name.fill(ADDRESS["name"])
    await address.get_by_role("button", name="Save address").click()
    await expect(address.get_by_role("status")).to_have_text("Address saved.")
    await expect(error).to_have_count(0)
    await expect(dialog.locator("#profile-address-now")).to_have_text(f"Saved: {SAVED_LINE}")

    # A token the provider does not know (as a broken card form might send): 422 at the card.
    card = dialog.get_by_role("form", name="Card")
    await expect(card.get_by_label("Test card")).to_have_value("tok_visa")
    options = await card.locator("option").all_text_contents()
    assert options == ["Test Visa 4242", "Test card that is declined"]
    await card.locator("option").first.evaluate("o => (o.value = 'tok_unknown')")
    await card.get_by_role("button", name="Save card").click()
    await expect(card.locator("#profile-card-error")).to_have_text(re.compile(r"\S"))
    await card.locator("option").first.evaluate("o => (o.value = 'tok_visa')")
    await card.get_by_label("Test card").select_option(label="Test Visa 4242")
    await card.get_by_role("button", name="Save card").click()
    await expect(card.get_by_role("status")).to_have_text("Card saved.")
    await expect(card.locator("#profile-card-error")).to_have_count(0)
    await expect(dialog.locator("#profile-card-now")).to_have_text("Saved: Visa •••• 4242")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "profile-saved-phone")
    await page.set_viewport_size(DESKTOP)
    await browser.screenshot(page, "profile-saved-desktop")

    saved = await me(site, demo.VIEWER)
    assert saved["address"] == ADDRESS
    assert saved["payment_method"] == {"brand": "visa", "last4": "4242"}
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.locator("#account-button")).to_be_focused()

    # A new page shows what is saved.
    again = await browser.page("again", site.live, session=site.session(demo.VIEWER))
    dialog = await open_profile(again)
    await expect(dialog.locator("#profile-address-now")).to_have_text(f"Saved: {SAVED_LINE}")
    await expect(dialog.get_by_label("City")).to_have_value("London")
    await expect(dialog.locator("#profile-card-now")).to_have_text("Saved: Visa •••• 4242")
    browser.assert_no_console_errors()


async def test_the_buy_dialog_uses_the_saved_address_and_card(site: Site, browser: Browser) -> None:
    await put(site, demo.VIEWER, "/api/me/address", ADDRESS)
    await put(site, demo.VIEWER, "/api/me/payment-method", {"token": "tok_declined"})
    page = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    page.livecart_log.allowed.append(REFUSED)
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await page.locator("#card .btn-buy").click()
    buy = page.locator("#buy-dialog")
    use_saved = buy.get_by_label("Use saved address")
    await expect(use_saved).to_be_checked()
    await expect(buy.locator("#buy-saved-address")).to_have_text(SAVED_LINE)
    await expect(buy.get_by_label("Full name")).to_be_hidden()
    await expect(buy.locator("#buy-card-text")).to_have_text("Pay with Visa •••• 0002.")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "buy-saved-profile")

    # The other address is pre-filled from the saved one.
    await use_saved.uncheck()
    await expect(buy.get_by_label("Full name")).to_have_value("Ada Lovelace")
    await expect(buy.get_by_label("Country")).to_have_value("GB")
    await use_saved.check()

    # The declined card: 402, said next to the card, which can be changed from here.
    await buy.get_by_role("button", name="Place order").click()
    refusal = buy.locator("#buy-card .field-error")
    await expect(refusal).to_contain_text("checkout profile")
    await browser.screenshot(page, "buy-card-declined")
    await buy.get_by_role("button", name="Checkout profile").click()
    profile = page.get_by_role("dialog", name="Checkout profile")
    await profile.get_by_label("Test card").select_option(label="Test Visa 4242")
    await profile.get_by_role("button", name="Save card").click()
    await expect(profile.locator("#profile-card-now")).to_have_text("Saved: Visa •••• 4242")
    await profile.get_by_role("button", name="Close").click()
    await expect(buy.get_by_role("button", name="Checkout profile")).to_be_focused()
    await expect(buy.locator("#buy-card-text")).to_have_text("Pay with Visa •••• 4242.")

    await buy.get_by_role("button", name="Place order").click()
    await expect(buy).to_have_count(0)
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    async with http_client(site.url) as http:
        mine = (await http.get("/api/orders", headers=site.auth(demo.VIEWER))).json()["orders"]
    assert [(o["status"] != "cancelled", o["quantity"]) for o in mine] == [(True, 1)]
    browser.assert_no_console_errors()


async def test_buying_without_a_profile_still_asks_for_the_address(
    site: Site, browser: Browser
) -> None:
    page = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await page.locator("#card .btn-buy").click()
    buy = page.locator("#buy-dialog")
    await expect(buy.get_by_label("Full name")).to_be_visible()
    assert await buy.get_by_label("Use saved address").count() == 0
    await expect(buy.locator("#buy-card-text")).to_have_text("No card saved.")
    browser.assert_no_console_errors()
