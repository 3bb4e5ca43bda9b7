"""Webhooks in the studio (issue 17: "endpoints that keep failing for 24 h are disabled and
the creator is told in the studio"), in Chromium against a real local receiver
(tests/webhook_helpers.py; the test server allows 127.0.0.1).

The creator adds an endpoint with the keyboard (a URL without its scheme is refused under
the field first, in words), sees its signing secret once — gone after a reload — and an
order of their product reaches the receiver signed with that secret; the endpoint's
deliveries show it delivered with HTTP 200 after Refresh, its attempts on demand, and Send
again sends the same event again. Removing asks first. An endpoint that failed for a day
(its failing start moved back in the database; the server disables it at the next failure)
is announced at the top of the studio with why, and Resume makes it active; the failed
delivery is then sent again. A moderator's studio has neither the panel nor the notice and
asks nothing about webhooks. Screenshots at 390×844 and 1280×800.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app import demo
from checkout.webhook_models import Webhook, WebhookDelivery
from checkout.webhook_rules import SIGNATURE_HEADER, verify
from common.times import utcnow
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.order_helpers import SHIPPING, fresh_key
from tests.pages_helpers import (
    PHONE,
    Browser,
    Site,
    accessibility_problems,
    expect,
    fits_a_phone,
    require_browser,
)
from tests.webhook_helpers import Received, Receiver, receiving, settled, subscribe
from tests.ws_helpers import rest_for

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
EVENTS = ["order.placed", "order.updated", "stock.changed", "auction.ended"]
# Chromium reports every 4xx answer on the console; the refused URL is on purpose.
REFUSED = re.compile(r"status of 422 ")
WAIT_S = 10.0


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def api(site: Site, method: str, path: str, who: str, body: Any = None) -> Any:
    async with http_client(site.url) as http:
        resp = await http.request(method, path, json=body, headers=site.auth(who))
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None


async def endpoints(site: Site) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api(site, "GET", "/api/webhooks", demo.CREATOR))[
        "webhooks"
    ]
    return found


async def place_order(site: Site) -> dict[str, Any]:
    """The demo viewer buys one of the demo creator's mugs over the API."""
    body = {"product_id": site.shop.product_ids[0], "quantity": 1, "shipping": SHIPPING}
    async with http_client(site.url) as http:
        headers = {**site.auth(demo.VIEWER), "Idempotency-Key": fresh_key()}
        resp = await http.post("/api/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        order: dict[str, Any] = resp.json()["order"]
        return order


async def take(receiver: Receiver, count: int = 1) -> list[Received]:
    return await asyncio.to_thread(receiver.take_many, count)


def signed(got: Received, secret: str) -> bool:
    return verify(secret, got.headers[SIGNATURE_HEADER], got.body, time.time())


def drain(receiver: Receiver) -> None:
    """Forget what the receiver has been sent so far."""
    while not receiver.got.empty():
        receiver.got.get_nowait()


async def deliveries_settled(site: Site, hook_id: int) -> list[dict[str, Any]]:
    async with rest_for(site.url) as rest:
        return await settled(rest, site.session(demo.CREATOR), hook_id)


async def until(check: Any, what: str) -> Any:
    """Poll the real state (bounded) until ``check()`` returns something true."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not {what}")


async def test_creator_adds_a_webhook_sees_the_secret_once_and_an_order_delivered(
    site: Site, browser: Browser
) -> None:
    with receiving() as receiver:
        page = await browser.page(
            "studio-webhooks", site.studio, session=site.session(demo.CREATOR)
        )
        page.livecart_log.allowed.append(REFUSED)
        panel = page.locator("#webhooks-panel")
        await expect(panel.locator("#webhooks")).to_have_text("No endpoints yet. Add one below.")
        await expect(page.locator("#webhook-notice")).to_be_hidden()

        # A URL without its scheme: the server's 422, said in words under the field.
        url_field = panel.get_by_label("Endpoint URL")
        await url_field.focus()
        await page.keyboard.type("127.0.0.1/hooks")
        await page.keyboard.press("Enter")
        await expect(panel.locator("#webhook-url-error")).to_have_text(
            "Must be a full http:// or https:// URL, like https://shop.example/livecart"
        )
        await expect(url_field).to_have_attribute("aria-invalid", "true")
        await expect(url_field).to_have_attribute(
            "aria-describedby", "webhook-url-error webhook-url-help"
        )
        await expect(url_field).to_be_focused()
        assert await endpoints(site) == []

        # Fixed with the keyboard; every event is ticked to begin with.
        await page.keyboard.press("Control+A")
        await page.keyboard.type(receiver.url)
        for event in EVENTS:
            await page.keyboard.press("Tab")
            box = panel.get_by_role("checkbox", name=re.compile(f"^{re.escape(event)} "))
            await expect(box).to_be_focused()
            await expect(box).to_be_checked()
        await page.keyboard.press("Tab")
        await expect(panel.get_by_role("button", name="Add endpoint")).to_be_focused()
        await page.keyboard.press("Enter")

        secret_box = panel.locator("#webhook-secret")
        secret_field = secret_box.get_by_label("Signing secret")
        await expect(secret_field).to_be_focused()
        await expect(secret_box.locator("#webhook-secret-once")).to_contain_text("Shown only now")
        await expect(url_field).not_to_have_attribute("aria-invalid", "true")
        await expect(url_field).to_have_value("")
        secret = await secret_field.input_value()
        assert re.fullmatch(r"whsec_[0-9a-f]{48}", secret), secret
        (hook,) = await endpoints(site)
        assert (hook["url"], sorted(hook["events"]), hook["status"], hook["secret"]) == (
            receiver.url, sorted(EVENTS), "active", None)  # fmt: skip
        item = panel.locator(f"#webhook-{hook['id']}")
        await expect(item.locator(".webhook-url")).to_have_text(receiver.url)
        await expect(item.locator(".webhook-head .badge")).to_have_text("Active")
        await expect(item.locator(".webhook-facts")).to_contain_text(", ".join(hook["events"]))
        await fits_a_phone(page, "#webhooks-panel")
        assert await accessibility_problems(page) == []
        await browser.screenshot(page, "studio-webhook-secret")

        # Deliveries open empty; an order of the creator's product reaches the receiver,
        # signed with the secret shown.
        deliveries = item.get_by_role("button", name="Deliveries", exact=True)
        await deliveries.focus()
        await page.keyboard.press("Enter")
        await expect(deliveries).to_have_attribute("aria-expanded", "true")
        log = item.locator(".delivery-log")
        await expect(log.locator("[role=status]")).to_contain_text("No deliveries yet")
        order = await place_order(site)
        got = await take(receiver, 3)  # placed, its stock, then accepted by the queue
        by_type = {g.event["type"]: g for g in got}
        assert set(by_type) == {"order.placed", "stock.changed", "order.updated"}
        placed = by_type["order.placed"]
        assert placed.event["data"]["order"]["id"] == order["id"]
        assert all(signed(g, secret) for g in got)
        assert not signed(placed, "whsec_" + "0" * 48)
        await deliveries_settled(site, hook["id"])

        refresh = log.get_by_role("button", name=f"Refresh deliveries to {receiver.url}")
        await refresh.focus()
        await page.keyboard.press("Enter")
        rows = log.locator("li.delivery")
        await expect(rows).to_have_count(3)
        await expect(rows.locator(".badge")).to_have_text(["delivered"] * 3)
        row = rows.filter(has_text=placed.event["id"])
        await expect(row.locator(".delivery-type")).to_have_text("order.placed")
        await expect(row.locator(".delivery-last")).to_contain_text(
            "1 attempt · last: HTTP 200 · delivered "
        )
        await expect(refresh).to_be_focused()  # kept across the list's redraw

        # The attempts, opened with the keyboard; then Send again: the same event, signed.
        summary = row.locator("summary")
        await summary.focus()
        await page.keyboard.press("Enter")
        attempts = row.locator(".attempt-list li")
        await expect(attempts).to_have_count(1)
        await expect(attempts).to_contain_text(["HTTP 200"])
        await expect(attempts.locator(".attempt-excerpt")).to_have_text('{"received":true}')
        again = row.get_by_role("button", name=f"Send order.placed {placed.event['id']} again")
        await again.focus()
        await page.keyboard.press("Enter")
        (resent,) = await take(receiver)
        assert resent.body == placed.body and signed(resent, secret)
        await expect(page.locator(".toast")).to_contain_text("is being sent again")
        await deliveries_settled(site, hook["id"])
        await refresh.focus()
        await page.keyboard.press("Enter")
        await expect(row.locator(".delivery-last")).to_contain_text("2 attempts · last: HTTP 200")
        await expect(attempts).to_have_count(2)  # still open after the redraw
        await fits_a_phone(page, "#webhooks-panel")
        assert await accessibility_problems(page) == []
        await item.scroll_into_view_if_needed()
        await browser.screenshot(page, "studio-webhook-deliveries")

        wide = await browser.page(
            "studio-webhooks-laptop", site.studio, session=site.session(demo.CREATOR),
            viewport=LAPTOP,
        )  # fmt: skip
        wide_item = wide.locator(f"#webhook-{hook['id']}")
        await wide_item.get_by_role("button", name="Deliveries").click()
        await expect(wide_item.locator("li.delivery")).to_have_count(3)
        await wide_item.scroll_into_view_if_needed()
        await browser.screenshot(wide, "studio-webhook-deliveries-laptop")

        # The secret is gone for good: not after a reload, not in storage.
        await page.reload()
        await expect(item.locator(".webhook-url")).to_have_text(receiver.url)
        await expect(panel.locator("#webhook-secret")).to_be_hidden()
        assert secret not in await page.content()
        assert secret not in await page.evaluate("() => JSON.stringify({...localStorage})")

        # Remove asks first; Keep it changes nothing, Yes removes it.
        remove = item.get_by_role("button", name="Remove", exact=True)
        await remove.focus()
        await page.keyboard.press("Enter")
        await expect(item.locator(".webhook-confirm")).to_have_text(
            "Remove this endpoint? Nothing more is sent to it."
        )
        await expect(item.get_by_role("button", name="Yes, remove it")).to_be_focused()
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")  # Keep it
        await expect(remove).to_be_focused()
        assert len(await endpoints(site)) == 1
        await page.keyboard.press("Enter")
        await page.keyboard.press("Enter")  # Yes, remove it
        await expect(panel.locator("#webhooks")).to_have_text("No endpoints yet. Add one below.")
        await expect(url_field).to_be_focused()
        assert await endpoints(site) == []

        # No event ticked: said under the events, nothing sent.
        posts: list[str] = []
        page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
        await page.keyboard.type(receiver.url)
        for _ in EVENTS:
            await page.keyboard.press("Tab")
            await page.keyboard.press("Space")
        await panel.get_by_role("button", name="Add endpoint").click()
        await expect(panel.locator("#webhook-events-error")).to_have_text(
            "Choose at least one event"
        )
        await expect(panel.get_by_role("checkbox").first).to_be_focused()
        assert posts == [] and await endpoints(site) == []
        await page.keyboard.press("Space")  # ticking one clears it
        await expect(panel.locator("#webhook-events-error")).to_have_count(0)
    browser.assert_no_console_errors()


async def test_a_disabled_webhook_is_told_at_the_top_of_the_studio_and_resumed(
    site: Site, browser: Browser, served: LiveServer
) -> None:
    creator = site.session(demo.CREATOR)
    with receiving(*[503] * 20) as receiver:
        async with rest_for(site.url) as rest:
            hook = await subscribe(rest, creator, receiver.url, "order.placed")
        await place_order(site)
        (first,) = await take(receiver)

        async def attempted() -> bool:
            path = f"/api/webhooks/{hook['id']}/deliveries"
            found = (await api(site, "GET", path, demo.CREATOR))["deliveries"]
            return bool(found and found[0]["attempts"])

        await until(attempted, "attempted")
        # As if it had failed since yesterday: the server disables it at the next failure.
        async with served.state.db.write() as session:
            webhook = await session.get(Webhook, hook["id"])
            assert webhook is not None and webhook.failing_since is not None
            webhook.failing_since = utcnow() - timedelta(hours=25)
            session.add(webhook)
            await session.exec(update(WebhookDelivery).values(next_attempt_at=utcnow()))

        async def disabled() -> bool:
            return (await endpoints(site))[0]["status"] == "disabled"

        await until(disabled, "disabled")
        drain(receiver)  # the failures that disabled it

        # A moderator's studio: no panel, no notice, no request about webhooks.
        asked: list[str] = []
        mod = await browser.page("studio-webhooks-moderator", site.studio,
                                 session=site.session(demo.MODERATOR))  # fmt: skip
        mod.on("request", lambda r: "/api/webhooks" in r.url and asked.append(r.url))
        await mod.reload()
        await expect(mod.locator("#role-note")).to_have_text("You are a moderator")
        await expect(mod.locator("#products .product-row")).to_have_count(5)
        await expect(mod.locator("#webhooks-panel")).to_be_hidden()
        await expect(mod.locator("#webhook-notice")).to_be_hidden()
        assert asked == []

        # The creator is told at the top of the studio, with why and since when.
        for name, viewport in (("studio-webhook-disabled-laptop", LAPTOP),
                               ("studio-webhook-disabled", PHONE)):  # fmt: skip
            page = await browser.page(name, site.studio, session=creator, viewport=viewport)
            notice = page.locator("#webhook-notice")
            await expect(notice).to_be_visible()
            await expect(notice).to_contain_text(
                f"Your webhook {receiver.url} was disabled after failing for 24 hours"
            )
            item = page.locator(f"#webhook-{hook['id']}")
            await expect(item.locator(".webhook-head .badge")).to_have_text("Disabled")
            await expect(item.locator(".webhook-why")).to_contain_text(
                "every delivery failed for 24 hours (failing since "
            )
            await expect(item.locator(".webhook-problem")).to_have_text("HTTP 503")
            await browser.screenshot(page, name)
        await fits_a_phone(page, "#webhook-notice")
        await fits_a_phone(page, "#webhooks-panel")
        assert await accessibility_problems(page) == []

        # Resume, from the notice, with the keyboard.
        resume = notice.get_by_role("button", name=f"Resume {receiver.url}")
        await resume.focus()
        await page.keyboard.press("Enter")
        await expect(notice).to_be_hidden()
        await expect(item.locator(".webhook-head .badge")).to_have_text("Active")
        await expect(item.locator(".webhook-why")).to_have_count(0)
        deliveries = item.get_by_role("button", name="Deliveries")
        await expect(deliveries).to_be_focused()
        (listed,) = await endpoints(site)
        assert (listed["status"], listed["disabled_at"], listed["failing_since"]) == (
            "active", None, None)  # fmt: skip

        # What it missed stays failed until sent again; now the receiver takes it.
        await page.keyboard.press("Enter")
        row = item.locator("li.delivery")
        await expect(row.locator(".badge")).to_have_text("failed")
        await expect(row.locator(".delivery-last")).to_contain_text("last: HTTP 503")
        with receiver.lock:
            receiver.answers.clear()
        await row.get_by_role("button", name=re.compile(r"^Send order\.placed evt_")).click()
        (resent,) = await take(receiver)
        assert resent.body == first.body
        await deliveries_settled(site, hook["id"])
        await item.get_by_role("button", name=re.compile("^Refresh deliveries")).click()
        await expect(row.locator(".badge")).to_have_text("delivered")
        await expect(row.locator(".delivery-last")).to_contain_text("last: HTTP 200")
        await browser.screenshot(page, "studio-webhook-resumed")
    browser.assert_no_console_errors()
