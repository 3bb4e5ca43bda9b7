"""The web pages in a real Chromium (Playwright): viewer, studio, fulfillment board.

Each test seeds the demo shop (``livecart demo``'s own seeding) into a fresh
SQLite database, serves it with uvicorn, and drives the pages as the demo
users. Every page must log no JavaScript console error. Screenshots go to
``test-results/pages/`` (see tests/pages_helpers.py).
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.settings import Settings
from app.tokens import TokenSigner
from tests.http_helpers import http_client
from tests.live_server import ServerProcess, process_env
from tests.pages_helpers import (
    DESKTOP,
    HEADPHONES,
    PHONE,
    SCREENSHOTS,
    Browser,
    Site,
    accessibility_problems,
    expect,
    focus_is_visible,
    open_browser,
    require_browser,
)
from tests.services import free_port

pytestmark = pytest.mark.browser

ROLES = dict(demo.ACCOUNTS)


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def test_every_page_renders_accessibly_without_console_errors(
    site: Site, browser: Browser
) -> None:
    pages = [
        ("index-signed-out", "/", None, PHONE),
        ("index-creator", "/", demo.CREATOR, PHONE),
        ("live-anonymous", site.live, None, PHONE),
        ("live-viewer", site.live, demo.VIEWER, PHONE),
        ("live-desktop", site.live, demo.VIEWER, DESKTOP),
        ("studio-creator", site.studio, demo.CREATOR, DESKTOP),
        ("studio-creator-phone", site.studio, demo.CREATOR, PHONE),
        ("studio-moderator", site.studio, demo.MODERATOR, DESKTOP),
        ("fulfillment", "/fulfillment", demo.STAFF, DESKTOP),
        ("fulfillment-phone", "/fulfillment", demo.STAFF, PHONE),
    ]
    for name, path, who, viewport in pages:
        page = await browser.page(
            name, path, session=site.session(who) if who else None, viewport=viewport
        )
        if path == "/":
            await expect(page.locator("#lives .live-card")).to_have_count(1)
        if path.startswith("/live"):
            await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
        if path.startswith("/studio"):
            await expect(page.locator("#products .product-row")).to_have_count(5)
            # The creator runs the live; a moderator gets the same studio without start/end.
            if who == demo.CREATOR:
                await expect(page.locator("#end-live")).to_be_visible()
            else:
                await expect(page.locator("#role-note")).to_have_text("You are a moderator")
                assert await page.locator("#lifecycle button").count() == 0
        if path == "/fulfillment":  # a queue per stage (refunded and cancelled under Done)
            await expect(page.locator("#stage-nav .stage")).to_have_count(9)
            await expect(page.locator("#queue")).to_have_attribute("aria-busy", "false")
        await browser.screenshot(page, name)
        assert await accessibility_problems(page) == [], name
        assert await focus_is_visible(page) == [], name
        await page.context.close()
    browser.assert_no_console_errors()


async def test_pin_in_studio_shows_on_the_viewer_page_within_a_second(
    site: Site, browser: Browser
) -> None:
    viewer = await browser.page("viewer", site.live)
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await expect(studio.locator("#products .product-row")).to_have_count(5)
    navigations: list[str] = []
    viewer.on("framenavigated", lambda frame: navigations.append(frame.url))

    await studio.get_by_role("button", name=f"Pin {HEADPHONES}", exact=True).click()
    started = time.monotonic()
    await expect(viewer.locator("#card .card-title")).to_have_text(HEADPHONES, timeout=1000)
    assert time.monotonic() - started < 1.0
    await expect(viewer.locator("#card .card-stock")).to_have_text("Only 8 left")
    await expect(viewer.locator("#card .price-now")).to_have_text("$89.00")

    # A flash deal: deal price, the list price struck through, a countdown.
    await studio.get_by_role("button", name=f"Pin {HEADPHONES} with a deal").click()
    dialog = studio.locator("#deal-dialog")
    await dialog.get_by_label("Deal price").fill("59.00")
    await dialog.get_by_label("Quantity at this price").fill("3")
    await dialog.get_by_label("Per-buyer limit").fill("1")
    await dialog.get_by_label("Duration (minutes)").fill("2")
    await browser.screenshot(studio, "studio-deal-dialog")
    await dialog.get_by_role("button", name="Pin with deal").click()
    card = viewer.locator("#card")
    await expect(card.locator(".price-now")).to_have_text("$59.00", timeout=1000)
    await expect(card.locator(".price-was")).to_have_text("$89.00")
    await expect(card.locator(".card-kicker")).to_have_text("Flash deal")
    await expect(card.locator(".card-deal")).to_contain_text(re.compile(r"Deal ends in [12]:\d\d"))
    await expect(card.locator(".card-deal")).to_contain_text("3 left at this price")
    await browser.screenshot(viewer, "viewer-deal")
    await browser.screenshot(studio, "studio-deal")

    # Unpin: the card goes away, still without reload.
    await studio.locator("#unpin").click()
    await expect(viewer.locator("#card")).to_be_hidden(timeout=1000)
    assert navigations == []
    browser.assert_no_console_errors()


async def buy(page: Any, quantity: int = 1, screenshot: Browser | None = None) -> None:
    await page.locator("#card .btn-buy").click()
    dialog = page.locator("#buy-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Quantity").fill(str(quantity))
    await dialog.get_by_label("Full name").fill("Ada Lovelace")
    await dialog.get_by_label("Address").fill("12 St James's Square")
    await dialog.get_by_label("City").fill("London")
    await dialog.get_by_label("Postal code").fill("SW1Y 4JH")
    await dialog.get_by_label("Country").fill("GB")
    if screenshot is not None:
        await screenshot.screenshot(page, "viewer-buy-dialog")
    await dialog.get_by_role("button", name="Place order").click()
    await expect(dialog).to_have_count(0)


async def test_viewer_buys_and_follows_the_order_to_shipped(site: Site, browser: Browser) -> None:
    async with http_client(site.url) as http:
        headphones = site.shop.product_ids[2]
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin",
            json={"product_id": headphones},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    await expect(viewer.locator("#card .card-stock")).to_have_text("Only 8 left")

    await buy(viewer, screenshot=browser)
    await expect(viewer.locator(".toast", has_text="accepted")).to_be_visible(timeout=5000)
    await expect(viewer.locator("#orders .badge")).to_have_text("accepted")
    await expect(viewer.locator("#card .card-stock")).to_have_text("Only 7 left")
    await browser.screenshot(viewer, "viewer-accepted")

    board = await browser.page(
        "board", "/fulfillment", session=site.session(demo.STAFF), viewport=DESKTOP
    )
    accepted = board.locator("#queue-rows tr[data-order-id]")  # the board opens on Accepted
    await expect(accepted).to_have_count(1)
    await accepted.click()
    drawer = board.locator("#order-drawer")
    moves = drawer.locator("button[data-to]")
    # Only legal moves are offered: no "ship" straight from accepted.
    assert await moves.all_text_contents() == ["Start picking", "Cancel order…"]
    await drawer.locator('[data-to="picking"]').click()
    await drawer.locator('[data-to="packed"]').click()
    await drawer.locator('[data-to="shipped"]').click()
    ship = board.locator("#ship-dialog")
    await ship.get_by_label("Carrier").fill("DHL")
    await ship.get_by_label("Tracking number").fill("JD014600006281")
    await browser.screenshot(board, "board-shipping-form")
    await ship.get_by_role("button", name="Mark shipped").click()
    await expect(drawer.locator(".drawer-status .badge").first).to_have_text("Shipped")
    await expect(drawer).to_contain_text("DHL · JD014600006281")
    assert await moves.all_text_contents() == ["Mark delivered"]
    await drawer.get_by_role("button", name="Close").click()
    await board.get_by_role("button", name=re.compile("^Shipped")).click()
    shipped = board.locator("#queue-rows tr[data-order-id]")
    await expect(shipped.locator(".tracking-no")).to_have_text("JD014600006281")
    await expect(shipped.locator(".col-tracking")).to_contain_text("DHL")

    toast = viewer.locator(".toast", has_text="shipped")
    await expect(toast).to_be_visible(timeout=5000)
    await expect(toast).to_contain_text("JD014600006281")
    await expect(viewer.locator("#orders .badge")).to_have_text("shipped")
    await browser.screenshot(viewer, "viewer-shipped")
    await browser.screenshot(board, "board-shipped")
    browser.assert_no_console_errors()


async def test_chat_shows_html_as_literal_text_and_moderators_act_on_it(
    site: Site, browser: Browser
) -> None:
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    studio = await browser.page(
        "studio", site.studio, session=site.session(demo.MODERATOR), viewport=DESKTOP
    )
    await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await expect(studio.locator("#products .product-row")).to_have_count(5)
    hostile = '<b>bold</b><img src=x onerror="window.__owned=1"><script>window.__owned=2</script>'

    await viewer.get_by_label("Message", exact=True).fill(hostile)
    await viewer.get_by_role("button", name="Send").click()
    for page in (viewer, studio):
        message = page.locator(".chat-log .chat-msg").last
        await expect(message.locator(".chat-text")).to_have_text(hostile)
        await expect(message.locator(".chat-user")).to_have_text(demo.VIEWER)
        assert await page.locator(".chat-log b, .chat-log img, .chat-log script").count() == 0
        assert await page.evaluate("() => window.__owned") is None
    await browser.screenshot(viewer, "viewer-chat")

    # The moderator deletes it: gone for everyone, without reload.
    await studio.get_by_role("button", name=f"Delete message from {demo.VIEWER}").click()
    await expect(viewer.locator(".chat-log .chat-msg")).to_have_count(0)

    # ... and mutes the viewer, who is told so on the next message.
    await viewer.get_by_label("Message", exact=True).fill("hello again")
    await viewer.get_by_role("button", name="Send").click()
    await expect(studio.locator(".chat-log .chat-msg")).to_have_count(1)
    await studio.get_by_role("button", name=f"Mute {demo.VIEWER} for 5 minutes").click()
    await expect(studio.locator(".toast", has_text="muted")).to_be_visible()
    await viewer.wait_for_timeout(300)
    await viewer.get_by_label("Message", exact=True).fill("can anyone hear me")
    await viewer.get_by_role("button", name="Send").click()
    await expect(viewer.locator(".chat-note")).to_contain_text("You are muted")
    await browser.screenshot(studio, "studio-chat")
    browser.assert_no_console_errors()


@pytest.mark.slow
async def test_viewer_page_recovers_after_the_server_restarts(
    page_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = replace(page_settings, ws_ping_interval_s=5.0, ws_ping_timeout_s=5.0)
    shop = await demo.seed_database(settings)
    tokens = TokenSigner(settings.secret_key, settings.token_ttl_s)
    proc = ServerProcess(process_env(settings), tmp_path, port=free_port())
    proc.start()
    try:
        async with open_browser(proc.url, SCREENSHOTS / request.node.name) as browser:
            viewer = await browser.page("viewer", f"/live/{shop.live_id}")
            log = viewer.livecart_log
            # While the server is down the browser itself reports the refused sockets.
            log.allowed.append(re.compile(r"WebSocket connection to .* failed"))
            # ...and any request made meanwhile (the socket asks for a fresh token first).
            log.allowed.append(re.compile(r"Failed to load resource: net::ERR_CONNECTION_REFUSED"))
            sockets: list[str] = []
            viewer.on("websocket", lambda ws: sockets.append(ws.url))
            await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")
            banner = viewer.locator("#banner")
            await expect(banner).to_be_hidden()

            proc.stop(signal.SIGTERM)
            await expect(banner).to_be_visible(timeout=10_000)
            await expect(banner).to_contain_text("Reconnecting")
            await browser.screenshot(viewer, "viewer-reconnecting")

            proc.start()
            await expect(banner).to_be_hidden(timeout=20_000)
            assert any("after=" in url for url in sockets), sockets

            # The resumed socket is live: a pin made now shows without reload.
            creator = tokens.issue(shop.users[demo.CREATOR])
            async with http_client(proc.url) as http:
                resp = await http.post(
                    f"/api/lives/{shop.live_id}/pin",
                    json={"product_id": shop.product_ids[2]},
                    headers={"Authorization": f"Bearer {creator}"},
                )
                assert resp.status_code == 200, resp.text
            await expect(viewer.locator("#card .card-title")).to_have_text(HEADPHONES, timeout=2000)
            await browser.screenshot(viewer, "viewer-recovered")
            browser.assert_no_console_errors()
    finally:
        proc.stop()


async def test_creator_starts_and_ends_a_live_from_the_studio(site: Site, browser: Browser) -> None:
    async with http_client(site.url) as http:
        resp = await http.post(
            "/api/lives", json={"title": "Sunday sale"}, headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 201, resp.text
        live_id = resp.json()["live"]["id"]
    viewer = await browser.page("viewer", f"/live/{live_id}")
    studio = await browser.page(
        "studio", f"/studio/{live_id}", session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    await expect(viewer.locator("#live-status")).to_have_text("scheduled")
    # Nothing can be pinned before the live starts.
    await expect(
        studio.get_by_role("button", name=f"Pin {HEADPHONES}", exact=True)
    ).to_be_disabled()

    await studio.get_by_role("button", name="Go live").click()
    await expect(viewer.locator("#live-status")).to_have_text("LIVE")
    await studio.get_by_role("button", name=f"Pin {HEADPHONES}", exact=True).click()
    await expect(viewer.locator("#card .card-title")).to_have_text(HEADPHONES)

    await studio.get_by_role("button", name="End live").click()
    await studio.get_by_role("button", name="Yes, end it").click()
    await expect(viewer.locator("#live-status")).to_have_text("ended")
    await expect(viewer.locator("#ended-note")).to_be_visible()
    await expect(viewer.locator("#card")).to_be_hidden()
    await expect(studio.locator("#lifecycle")).to_have_text("This live has ended.")
    await browser.screenshot(viewer, "viewer-ended")
    browser.assert_no_console_errors()


async def test_viewer_page_resumes_after_the_network_drops(site: Site, browser: Browser) -> None:
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    viewer.livecart_log.allowed.append(re.compile(r"WebSocket connection to .* failed"))
    sockets: list[str] = []
    viewer.on("websocket", lambda ws: sockets.append(ws.url))
    await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")

    await viewer.context.set_offline(True)
    banner = viewer.locator("#banner")
    await expect(banner).to_contain_text("offline")
    await browser.screenshot(viewer, "viewer-offline")
    async with http_client(site.url) as http:  # missed while offline
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin",
            json={"product_id": site.shop.product_ids[1]},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text

    await viewer.context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=5000)
    await expect(viewer.locator("#card .card-title")).to_have_text("Sunny cotton tee")
    assert any("after=" in url for url in sockets), sockets
    browser.assert_no_console_errors()
