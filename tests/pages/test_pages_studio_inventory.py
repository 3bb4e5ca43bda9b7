"""Stock by warehouse in the studio, in Chromium: an admin adds warehouse BER (DE); the
creator opens "Stock by warehouse" on a product, sets BER to 5 with the keyboard and saves
(the Save button is disabled meanwhile); the row's "N in stock" follows and the API says
BER holds 5. An order for 2 shipping to Germany is allocated to BER; setting BER to 1 is
refused in place (the server's below_allocated message, role=alert), nothing changes, and
the figures show the 2 promised to orders. On a phone, the editor of the pinned product
follows a sale (its stock frame) without dropping what is typed; a moderator has no editor.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from app import demo
from app.accounts import Role
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.order_helpers import fresh_key
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
)
from tests.ws_helpers import auth, make_user

pytestmark = pytest.mark.browser

# Chromium reports every 4xx answer on the console; the refused save is one on purpose.
REFUSED = re.compile(r"status of (409) ")
MUG = demo.PRODUCTS[0][0]  # pinned on the demo's running live: its stock frames reach the studio
IN_GERMANY = {"name": "Dora Diehl", "line1": "Invalidenstr. 117", "city": "Berlin",
              "postal_code": "10115", "country": "DE"}  # fmt: skip


async def add_berlin(site: Site, served: LiveServer) -> None:
    admin = await make_user(served.state, "ada_admin", Role.ADMIN)
    body = {"code": "BER", "name": "Berlin", "country": "DE"}
    async with http_client(site.url) as http:
        resp = await http.post("/api/warehouses", json=body, headers=auth(admin))
        assert resp.status_code == 201, resp.text


async def inventory(site: Site, product_id: int) -> dict[str, Any]:
    """The product's figures over HTTP: {stock, lines: {code: (on_hand, allocated)}}."""
    async with http_client(site.url) as http:
        resp = await http.get(
            f"/api/products/{product_id}/inventory", headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
    lines = {line["warehouse"]: (line["on_hand"], line["allocated"]) for line in body["inventory"]}
    return {"stock": body["stock"], "lines": lines}


async def order(
    site: Site, buyer: dict[str, Any], product_id: int, quantity: int
) -> dict[str, Any]:
    body = {"product_id": product_id, "quantity": quantity, "shipping": IN_GERMANY}
    headers = {**auth(buyer), "Idempotency-Key": fresh_key()}
    async with http_client(site.url) as http:
        resp = await http.post("/api/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        placed: dict[str, Any] = resp.json()["order"]
        return placed


async def part_shot(browser: Browser, part: Any, name: str) -> None:
    """A screenshot of one part of a page, without the toasts that would cover it."""
    toggle = "(on) => document.querySelector('.toasts')?.toggleAttribute('hidden', on)"
    browser.shots.mkdir(parents=True, exist_ok=True)
    await part.page.evaluate(toggle, True)
    await part.screenshot(path=str(browser.shots / f"{name}.png"), animations="disabled")
    await part.page.evaluate(toggle, False)


async def replace_value(page: Any, text: str) -> None:
    """Type over the focused field's value, with the keyboard."""
    await page.keyboard.press("Control+A")
    await page.keyboard.type(text)


async def test_a_creator_restocks_a_warehouse_and_is_refused_below_the_promised_units(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    await add_berlin(site, served)
    lamp = lamp_id(site)
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    studio.livecart_log.allowed.append(REFUSED)
    row = studio.locator(f"#products [data-product-id='{lamp}']")
    await expect(row.locator(".stock")).to_have_text("6 in stock")
    toggle = row.get_by_role("button", name=f"Stock by warehouse of {LAMP}")
    editor = studio.get_by_role("region", name=f"Stock by warehouse of {LAMP}")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(editor).to_be_hidden()

    # Open it with the keyboard: every warehouse, MAIN first; BER holds none yet.
    await toggle.focus()
    await studio.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    main, berlin = editor.get_by_label("On hand at MAIN"), editor.get_by_label("On hand at BER")
    await expect(main).to_have_value("6")
    await expect(berlin).to_have_value("0")
    await expect(berlin).to_have_attribute("min", "0")
    lines = editor.locator(".inventory-form")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("MAINMain warehouse")
    await expect(lines.nth(1)).to_contain_text("BERBerlin · DE")
    await expect(lines.nth(1).locator(".inventory-figures")).to_have_text(
        "0 promised to orders · 0 left to sell"
    )
    await studio.keyboard.press("Tab")
    await expect(main).to_be_focused()
    await studio.keyboard.press("Tab")
    await expect(editor.get_by_role("button", name="Save MAIN")).to_be_focused()
    await studio.keyboard.press("Tab")
    await expect(berlin).to_be_focused()
    await replace_value(studio, "5")
    await studio.keyboard.press("Tab")
    save = editor.get_by_role("button", name="Save BER")
    await expect(save).to_be_focused()
    await studio.keyboard.press("Enter")
    await expect(editor.get_by_role("status")).to_have_text("Saved: 5 on hand at BER.")
    await expect(row.locator(".stock")).to_have_text("11 in stock")
    await expect(berlin).to_have_value("5")
    await expect(lines.nth(1).locator(".inventory-figures")).to_have_text(
        "0 promised to orders · 5 left to sell"
    )
    await expect(save).to_be_focused()
    prize = studio.get_by_role("form", name="Start a giveaway").get_by_label("Prize")
    await expect(prize).to_contain_text(f"{LAMP} (11 in stock)")  # the desks hear of it too
    assert await inventory(site, lamp) == {"stock": 11, "lines": {"MAIN": (6, 0), "BER": (5, 0)}}
    assert await accessibility_problems(studio) == []
    await part_shot(browser, row, "inventory-saved-desktop")

    # Two go to Germany: allocated to BER. The editor has not heard (the lamp is not pinned).
    dora = await register(site, "dora_de")
    placed = await order(site, dora, lamp, 2)
    assert placed["warehouse"] == "BER"
    assert await inventory(site, lamp) == {"stock": 9, "lines": {"MAIN": (6, 0), "BER": (5, 2)}}

    # Setting BER to 1 (below the 2 promised): Save is disabled while the server answers,
    # then its refusal shows at the field, which keeps what was typed; nothing changes.
    gate = asyncio.Event()

    async def hold(route: Any) -> None:
        await gate.wait()
        await route.continue_()

    await studio.route("**/api/products/*/inventory/BER", hold)
    await berlin.focus()
    await replace_value(studio, "1")
    await studio.keyboard.press("Enter")
    await expect(save).to_be_disabled()
    await expect(editor.get_by_role("status")).to_have_text("Saving BER…")
    gate.set()
    alert = editor.get_by_role("alert")
    await expect(alert).to_have_text("Orders not shipped yet hold more units than that.")
    await expect(save).to_be_enabled()
    await expect(berlin).to_be_focused()
    await expect(berlin).to_have_attribute("aria-invalid", "true")
    await expect(berlin).to_have_attribute("aria-describedby", re.compile(r"-BER-error$"))
    await expect(berlin).to_have_value("1")
    # The refusal reads the figures again: the 2 promised show, and the stock after the order.
    await expect(lines.nth(1).locator(".inventory-figures")).to_have_text(
        "2 promised to orders · 3 left to sell"
    )
    await expect(berlin).to_have_attribute("min", "2")
    await expect(row.locator(".stock")).to_have_text("9 in stock")
    await expect(main).to_have_value("6")
    assert await inventory(site, lamp) == {"stock": 9, "lines": {"MAIN": (6, 0), "BER": (5, 2)}}
    assert await accessibility_problems(studio) == []
    await part_shot(browser, row, "inventory-refused-desktop")
    await browser.screenshot(studio, "inventory-refused-page-desktop")

    # On a phone: no sideways scrolling, buttons big enough to tap.
    await studio.set_viewport_size(PHONE)
    await fits_a_phone(studio, "#products-panel")
    await part_shot(browser, row, "inventory-refused-phone")
    await browser.screenshot(studio, "inventory-refused-page-phone")

    # Typing again clears the refusal. Pinning redraws the shelf: the editor stays open with
    # what was typed. Closing and opening reads the figures afresh.
    await berlin.focus()
    await replace_value(studio, "2")
    await expect(alert).to_have_count(0)
    await expect(berlin).not_to_have_attribute("aria-invalid", "true")
    await row.get_by_role("button", name=f"Pin {LAMP}", exact=True).click()
    await expect(row).to_have_class(re.compile(r"\bis-pinned\b"))
    await expect(editor).to_be_visible()
    await expect(berlin).to_have_value("2")
    await toggle.click()
    await expect(editor).to_be_hidden()
    await toggle.click()
    await expect(berlin).to_have_value("5")
    browser.assert_no_console_errors()


async def test_on_a_phone_the_editor_follows_a_sale_and_moderators_have_none(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    await add_berlin(site, served)
    mug = site.shop.product_ids[0]
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=PHONE
    )
    row = studio.locator(f"#products [data-product-id='{mug}']")
    await expect(row.locator(".stock")).to_have_text("40 in stock")
    await row.get_by_role("button", name=f"Stock by warehouse of {MUG}").click()
    editor = studio.get_by_role("region", name=f"Stock by warehouse of {MUG}")
    main, berlin = editor.get_by_label("On hand at MAIN"), editor.get_by_label("On hand at BER")
    await expect(main).to_have_value("40")
    await berlin.fill("3")
    await editor.get_by_role("button", name="Save BER").click()
    await expect(row.locator(".stock")).to_have_text("43 in stock")
    await main.fill("45")  # typed, not saved

    # A sale of the pinned mug to Germany: its stock frame reaches the studio, and the open
    # editor reads its figures again; the typed MAIN stays as typed.
    dora = await register(site, "dora_de")
    placed = await order(site, dora, mug, 2)
    assert placed["warehouse"] == "BER"
    await expect(row.locator(".stock")).to_have_text("41 in stock")
    await expect(editor.locator("[data-warehouse='BER'] .inventory-figures")).to_have_text(
        "2 promised to orders · 1 left to sell"
    )
    await expect(berlin).to_have_attribute("min", "2")
    await expect(main).to_have_value("45")
    await fits_a_phone(studio, "#products-panel")
    assert await accessibility_problems(studio) == []
    await part_shot(browser, row, "inventory-after-sale-phone")

    # Saving MAIN: the answer's stock shows.
    await editor.get_by_role("button", name="Save MAIN").click()
    await expect(editor.get_by_role("status")).to_have_text("Saved: 45 on hand at MAIN.")
    await expect(row.locator(".stock")).to_have_text("46 in stock")
    assert await inventory(site, mug) == {"stock": 46, "lines": {"MAIN": (45, 0), "BER": (3, 2)}}

    # A moderator runs the live's chat and pins, not the creator's shelves.
    moderator = await browser.page(
        "moderator", site.studio, session=site.session(demo.MODERATOR), viewport=PHONE
    )
    await expect(moderator.locator("#products .product-row")).to_have_count(5)
    await expect(
        moderator.get_by_role("button", name=re.compile("Stock by warehouse"))
    ).to_have_count(0)
    browser.assert_no_console_errors()
