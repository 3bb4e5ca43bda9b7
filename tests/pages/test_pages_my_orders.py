"""The buyer's "My orders" page (``/orders``) in Chromium, phone-sized (390×844) unless said:

- a shipped order shows its status timeline (each step, when, who) and its tracking number
  in plain text; a delivered one takes a return (reason and note) and shows its RMA, then
  how it came back once staff receive it (seen after Refresh);
- cancelling goes through a confirmation ("Cancel order #N?"); an order shipped meanwhile is
  refused in plain words inside the dialog; a link ``/orders#order-N`` (the live page's
  "Your orders" links there) scrolls to the order and highlights it;
- support: a ticket is opened from the card, a staff reply shows after the page reads its
  data again (the Refresh button, then the tab becoming visible again), the buyer replies
  and closes it; a reply to a ticket staff closed meanwhile moves to a new ticket's form;
- signed out: a sign-in prompt. Every page fits a phone (no sideways scroll, 44 px buttons),
  passes the accessibility check and logs no console error.

Staff move orders over the API (``accepted`` is the fulfillment queue's: the tests wait for
it). The page is never waited on with sleeps: only on its text and elements.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app import demo
from app.accounts import Role
from checkout.models import Order
from common.times import utcnow
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.pages_helpers import (
    DESKTOP,
    LAMP,
    Browser,
    Site,
    accessibility_problems,
    expect,
    fits_a_phone,
    focus_is_visible,
    register,
    require_browser,
)
from tests.ws_helpers import Who, make_user

pytestmark = pytest.mark.browser

# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of 409 ")
MUG, HEADPHONES = "Blue stoneware mug", "Studio headphones"
WAIT_S = 10.0


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


def product(site: Site, title: str) -> int:
    titles = [t for t, *_ in demo.PRODUCTS]
    return site.shop.product_ids[titles.index(title)]


def bearer(who: Who) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"}


async def place(
    site: Site, buyer: Who, title: str, quantity: int = 1, *, live: bool = False
) -> int:
    """An order with the buyer's saved address and card; returns its id once accepted."""
    body: dict[str, Any] = {"product_id": product(site, title), "quantity": quantity}
    if live:
        body["live_id"] = site.shop.live_id
    headers = {**bearer(buyer), "Idempotency-Key": uuid.uuid4().hex}
    async with http_client(site.url) as http:
        resp = await http.post("/api/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        order_id: int = resp.json()["order"]["id"]
        # `accepted` is set by the fulfillment queue: poll the order's real state (bounded).
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            got = await http.get(f"/api/orders/{order_id}", headers=bearer(buyer))
            status = got.json()["order"]["status"]
            if status == "accepted" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert status == "accepted", got.text
    return order_id


async def move(site: Site, staff: Who, order_id: int, *steps: str, **extra: Any) -> dict[str, Any]:
    """Staff move the order along ``steps`` (shipping with DHL and a tracking number)."""
    order: dict[str, Any] = {}
    async with http_client(site.url) as http:
        for to in steps:
            body: dict[str, Any] = {"to": to}
            if to == "shipped":
                body |= {"carrier": "DHL", "tracking_number": "JD014600006281"}
            if to == "returned":
                body |= extra
            resp = await http.post(
                f"/api/fulfillment/orders/{order_id}/transition", json=body, headers=bearer(staff)
            )
            assert resp.status_code == 200, (to, resp.text)
            order = resp.json()["order"]
    return order


async def read(site: Site, who: Who, path: str) -> dict[str, Any]:
    async with http_client(site.url) as http:
        resp = await http.get(path, headers=bearer(who))
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


async def post(site: Site, who: Who, path: str, body: Any = None, status: int = 201) -> Any:
    async with http_client(site.url) as http:
        resp = await http.post(path, json=body, headers=bearer(who))
        assert resp.status_code == status, resp.text
        return resp.json()


async def people(served: LiveServer, site: Site, buyer: str) -> tuple[Who, Who]:
    """A new buyer with a saved address and card, and a staff member."""
    staff = await make_user(served.state, f"sam_{buyer}", Role.STAFF)
    return await register(site, buyer), staff


async def viewport_shot(browser: Browser, page: Any, name: str) -> None:
    """What the screen shows (a modal dialog sits in the viewport, not in a full-page shot)."""
    browser.shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(browser.shots / f"{name}.png"), animations="disabled")


def card(page: Any, order_id: int) -> Any:
    return page.locator(f"#order-{order_id}")


async def check_page(page: Any) -> None:
    await fits_a_phone(page, "#main")
    assert await accessibility_problems(page) == []


async def test_a_shipped_order_shows_its_timeline_and_tracking_and_a_delivered_one_is_returned(
    served: LiveServer, site: Site, browser: Browser
) -> None:
    buyer, staff = await people(served, site, "bea_orders")
    shipped = await place(site, buyer, LAMP)
    await move(site, staff, shipped, "picking", "packed", "shipped")
    delivered = await place(site, buyer, MUG, 2, live=True)
    await move(site, staff, delivered, "picking", "packed", "shipped", "delivered")
    waiting = await place(site, buyer, HEADPHONES)

    page = await browser.page("orders", "/orders", session=buyer)
    await expect(page.locator("#order-list > li")).to_have_count(3)
    # Newest first.
    ids = [int(i) for i in await page.locator("#order-list > li").evaluate_all(
        "(items) => items.map((li) => li.dataset.orderId)")]  # fmt: skip
    assert ids == [waiting, delivered, shipped]
    await expect(page.get_by_role("link", name="My orders")).to_have_attribute(
        "aria-current", "page"
    )
    assert await focus_is_visible(page) == []

    # (1) The shipped order: its timeline — every step with when and who — and tracking.
    lamp = card(page, shipped)
    await expect(lamp.locator("h2")).to_have_text(f"Order #{shipped} {LAMP}")
    await expect(lamp.locator(".badge").first).to_have_text("Shipped")
    await expect(lamp.locator(".order-price")).to_have_text("1 × $45.00 · Total $45.00")
    await expect(lamp).to_contain_text("Bought from the shop")
    steps = lamp.locator(".timeline li")
    await expect(steps.locator(".step-status")).to_have_text(
        ["Placed", "Accepted", "Being picked", "Packed", "Shipped"]
    )
    await expect(steps.nth(0).locator(".step-when")).to_contain_text("by you")
    await expect(steps.nth(1).locator(".step-when")).to_contain_text("by livecart")
    await expect(steps.nth(4).locator(".step-when")).to_contain_text(
        f"by {staff['user']['username']}"
    )
    assert await steps.nth(4).locator("time").get_attribute("datetime")
    await expect(lamp.locator(".tracking-carrier")).to_have_text("DHL")
    number = lamp.locator(".tracking-number")
    await expect(number).to_have_text("JD014600006281")
    assert await number.evaluate("(el) => getComputedStyle(el).userSelect") == "all"
    await expect(lamp.get_by_role("button", name=f"Cancel order #{shipped}")).to_be_hidden()
    await expect(lamp.locator(".order-ship-by")).to_have_count(0)

    # Not shipped yet: the ship-by date, and Cancel.
    phones = card(page, waiting)
    await expect(phones.locator(".order-ship-by")).to_contain_text("Ships by")
    await expect(phones.get_by_role("button", name=f"Cancel order #{waiting}")).to_be_visible()
    await expect(phones.locator(".order-late")).to_have_count(0)
    # Past its ship-by date and not shipped: "Running late" (seen after Refresh).
    overdue = update(Order).where(col(Order.id) == waiting).values(ship_by=utcnow() - timedelta(1))
    async with served.state.db.write() as session:
        await session.exec(overdue)  # type: ignore[call-overload]
    await page.get_by_role("button", name="Refresh").click()
    await expect(phones.locator(".order-late")).to_contain_text(
        "Running late: it was due to ship by"
    )
    await expect(lamp.locator(".order-late")).to_have_count(0)  # shipped: never "late" here

    # (2) The delivered order: a return with a reason and a note, then its RMA.
    mug = card(page, delivered)
    await expect(mug.locator(".order-price")).to_have_text("2 × $18.00 · Total $36.00")
    await expect(mug).to_contain_text("Bought in a live")
    await mug.get_by_role("button", name="Return this item").click()
    submit = mug.get_by_role("button", name="Request return")
    await submit.click()  # no reason yet: said under the select, nothing sent
    reason = mug.get_by_label("Why are you returning it?")
    await expect(mug.locator(".field-error")).to_have_text("Choose why you are returning it.")
    await expect(reason).to_have_attribute("aria-invalid", "true")
    assert [o.strip() for o in await reason.locator("option").all_text_contents()] == [
        "Choose a reason", "It arrived damaged", "I got the wrong item",
        "It is not as described", "I changed my mind", "Another reason",
    ]  # fmt: skip
    await reason.select_option("damaged")
    await mug.get_by_label("Anything we should know? (optional)").fill("Chipped rim.\nBox was wet.")
    await check_page(page)
    await browser.screenshot(page, "return-form-phone")
    await submit.click()
    rma = f"RMA-{delivered:06d}"
    info = mug.locator(".return-info")
    await expect(info.locator("h3")).to_have_text(f"Return requested — {rma}")
    await expect(info.locator("h3")).to_be_focused()
    await expect(info).to_contain_text("It arrived damaged")
    await expect(info.locator(".pre-wrap")).to_have_text("Chipped rim.\nBox was wet.")
    await expect(mug.locator(".badge").first).to_have_text("Return requested")
    await expect(mug.get_by_role("button", name="Return this item")).to_be_hidden()
    order = (await read(site, buyer, f"/api/orders/{delivered}"))["order"]
    assert order["return"] == {
        "rma": rma, "reason": "damaged", "note": "Chipped rim.\nBox was wet.", "condition": None
    }  # fmt: skip

    # Staff receive it damaged: Refresh shows the return's status and condition.
    await move(site, staff, delivered, "returned", condition="damaged")
    await page.get_by_role("button", name="Refresh").click()
    await expect(info.locator("h3")).to_have_text(f"Return received — {rma}")
    await expect(info).to_contain_text("It came back damaged")
    await expect(info.locator("dd").last).to_have_text("Damaged")
    await expect(page.locator(".toast", has_text=f"Order #{delivered}")).to_contain_text("Returned")
    await check_page(page)
    await browser.screenshot(page, "orders-phone")
    await page.set_viewport_size(DESKTOP)
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "orders-desktop")
    browser.assert_no_console_errors()


async def test_cancelling_asks_first_and_a_link_finds_the_order(
    served: LiveServer, site: Site, browser: Browser
) -> None:
    buyer, staff = await people(served, site, "cal_orders")
    doomed = await place(site, buyer, LAMP, live=True)  # the oldest: last on the page
    racing = await place(site, buyer, MUG)
    for _ in range(3):
        await place(site, buyer, MUG)

    # The live page's "Your orders" links to the order on /orders.
    live = await browser.page("live", site.live, session=buyer)
    await live.get_by_role("link", name=f"Order #{doomed}").click()
    await expect(live).to_have_url(re.compile(rf"/orders#order-{doomed}$"))
    page = live
    page.livecart_log.allowed.append(REFUSED)
    doomed_card = card(page, doomed)
    await expect(doomed_card).to_have_class(re.compile(r"\bis-target\b"))
    await expect(doomed_card).to_be_in_viewport()
    await expect(doomed_card.locator("h2")).to_be_focused()
    await expect(page.locator(".is-target")).to_have_count(1)

    # (3) Cancel behind a confirmation: "Keep order" changes nothing.
    cancel = doomed_card.get_by_role("button", name=f"Cancel order #{doomed}")
    await cancel.click()
    dialog = page.locator("#cancel-dialog")
    await expect(dialog.get_by_role("heading")).to_have_text(f"Cancel order #{doomed}?")
    await expect(dialog).to_contain_text(f"{LAMP} × 1 · $45.00")
    await expect(dialog.get_by_role("button", name="Keep order")).to_be_focused()
    await check_page(page)
    await viewport_shot(browser, page, "cancel-dialog-phone")
    await dialog.get_by_role("button", name="Keep order").click()
    await expect(dialog).to_have_count(0)
    await expect(cancel).to_be_focused()
    await expect(doomed_card.locator(".badge").first).to_have_text("Accepted")

    await cancel.click()
    await dialog.get_by_role("button", name="Yes, cancel it").click()
    await expect(dialog).to_have_count(0)
    await expect(doomed_card.locator(".badge").first).to_have_text("Cancelled")
    await expect(doomed_card.locator(".timeline li").last).to_contain_text("Cancelled")
    await expect(doomed_card.locator(".timeline li").last).to_contain_text("by you")
    await expect(cancel).to_be_hidden()
    await expect(doomed_card.locator("h2")).to_be_focused()
    await expect(doomed_card).to_contain_text("Not charged")
    order = (await read(site, buyer, f"/api/orders/{doomed}"))["order"]
    assert (order["status"], order["payment_status"]) == ("cancelled", "voided")

    # Shipped while the dialog was open: refused in plain words, next to the button.
    other = card(page, racing)
    await other.get_by_role("button", name=f"Cancel order #{racing}").click()
    await move(site, staff, racing, "picking", "packed", "shipped")
    await dialog.get_by_role("button", name="Yes, cancel it").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "It is too late to cancel: this order has already shipped. "
        "Once it is delivered you can return it."
    )
    await expect(dialog.get_by_role("button", name="Yes, cancel it")).to_have_count(0)
    await expect(other.locator(".badge").first).to_have_text("Shipped")  # read again behind
    await viewport_shot(browser, page, "cancel-refused-phone")
    await dialog.get_by_role("button", name="Close").click()
    await expect(other.locator("h2")).to_be_focused()
    await expect(other.locator(".tracking-number")).to_have_text("JD014600006281")
    await check_page(page)
    browser.assert_no_console_errors()


async def test_a_ticket_is_opened_answered_by_staff_replied_to_and_closed(
    served: LiveServer, site: Site, browser: Browser
) -> None:
    buyer, staff = await people(served, site, "tia_orders")
    order_id = await place(site, buyer, HEADPHONES)
    page = await browser.page("orders", "/orders", session=buyer)
    page.livecart_log.allowed.append(REFUSED)
    mine = card(page, order_id)
    await expect(mine.locator(".badge").first).to_have_text("Accepted")

    # (4) "Get help with this order" opens the form; the question may span lines.
    await mine.get_by_role("button", name="Get help with this order").click()
    await mine.get_by_role("button", name="Send to our team").click()
    await expect(mine.locator(".help-form .form-error")).to_have_text("Write your question first.")
    question = "Where are my headphones?\nThey are a gift."
    await mine.get_by_label("What do you need help with?").fill(question)
    await mine.get_by_role("button", name="Send to our team").click()
    ticket = mine.locator(".ticket")
    await expect(ticket).to_have_count(1)
    await expect(ticket.locator("h4")).to_be_focused()
    await expect(mine.locator(".help-form")).to_be_hidden()
    await expect(ticket.locator(".ticket-head .badge")).to_have_text("Waiting for our reply")
    messages = ticket.locator(".message")
    await expect(messages.locator(".message-text")).to_have_text([question])
    await expect(messages.locator(".message-who")).to_have_text(["You"])
    listed = (await read(site, buyer, f"/api/tickets?order_id={order_id}"))["tickets"]
    assert [t["messages"][0]["text"] for t in listed] == [question]
    ticket_id = listed[0]["id"]

    # Staff answer over the API; the Refresh button reads it.
    await post(site, staff, f"/api/tickets/{ticket_id}/messages", {"text": "It ships today."})
    await page.get_by_role("button", name="Refresh").click()
    await expect(messages).to_have_count(2)
    staff_line = messages.nth(1)
    await expect(staff_line).to_have_class(re.compile(r"\bis-staff\b"))
    await expect(staff_line.locator(".badge-staff")).to_have_text("Staff")
    await expect(staff_line.locator(".message-who")).to_have_text(staff["user"]["username"])
    await expect(staff_line.locator(".message-text")).to_have_text("It ships today.")
    await expect(ticket.locator(".ticket-head .badge")).to_have_text("Answered")
    await expect(page.locator(".toast", has_text="New reply from our team")).to_be_visible()

    # The buyer replies; staff answer again, seen when the tab becomes visible again.
    await ticket.get_by_label("Your reply").fill("Thanks!")
    await ticket.get_by_role("button", name="Send reply").click()
    await expect(messages).to_have_count(3)
    await expect(ticket.get_by_label("Your reply")).to_have_value("")
    await expect(ticket.locator(".ticket-head .badge")).to_have_text("Waiting for our reply")
    await post(site, staff, f"/api/tickets/{ticket_id}/messages", {"text": "Tracking soon."})
    await page.evaluate(
        """() => {
          const set = (state) => {
            const get = () => state;
            Object.defineProperty(document, "visibilityState", { configurable: true, get });
            document.dispatchEvent(new Event("visibilitychange"));
          };
          set("hidden");
          set("visible");
        }"""
    )
    await expect(messages).to_have_count(4)
    await expect(messages.last.locator(".message-text")).to_have_text("Tracking soon.")
    await check_page(page)
    await browser.screenshot(page, "ticket-answered-phone")

    # Closed by the buyer: it says so, and takes no more replies.
    await ticket.get_by_role("button", name="Close conversation").click()
    await expect(ticket.locator(".ticket-head .badge")).to_have_text("Closed")
    await expect(ticket).to_contain_text("This conversation is closed.")
    await expect(ticket.get_by_label("Your reply")).to_be_hidden()
    got = (await read(site, buyer, f"/api/tickets/{ticket_id}"))["ticket"]
    assert got["status"] == "closed"

    # A second ticket, closed by staff while the buyer writes: the text moves to a new one.
    await mine.get_by_role("button", name="Get help with this order").click()
    await mine.get_by_label("What do you need help with?").fill("One more thing")
    await mine.get_by_role("button", name="Send to our team").click()
    await expect(mine.locator(".ticket")).to_have_count(2)
    second = mine.locator(".ticket").nth(1)
    second_id = int((await second.get_attribute("id") or "").removeprefix("ticket-"))
    await post(site, staff, f"/api/tickets/{second_id}/close", status=200)
    await second.get_by_label("Your reply").fill("Also, gift wrap?")
    await second.get_by_role("button", name="Send reply").click()
    await expect(second.get_by_role("alert")).to_have_text(
        "This conversation is closed, so your message was not sent. "
        "It is in a new conversation below: send it from there."
    )
    await expect(mine.get_by_label("What do you need help with?")).to_have_value("Also, gift wrap?")
    await expect(mine.get_by_label("What do you need help with?")).to_be_focused()
    await expect(second.locator(".ticket-head .badge")).to_have_text("Closed")
    await mine.get_by_role("button", name="Send to our team").click()
    await expect(mine.locator(".ticket")).to_have_count(3)
    await expect(mine.locator(".ticket").nth(2).locator(".message-text")).to_have_text(
        ["Also, gift wrap?"]
    )
    await expect(second.get_by_role("alert")).to_be_hidden()
    await check_page(page)
    await browser.screenshot(page, "tickets-phone")
    await page.set_viewport_size(DESKTOP)
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "tickets-desktop")
    browser.assert_no_console_errors()


async def test_signed_out_the_page_asks_to_sign_in_and_fits_a_phone(
    site: Site, browser: Browser
) -> None:
    page = await browser.page("signed-out", "/orders")
    prompt = page.locator("#signed-out")
    await expect(prompt.get_by_role("heading")).to_have_text("Sign in to see your orders")
    await expect(page.locator("#order-list > li")).to_have_count(0)
    await expect(page.locator("#refresh-bar")).to_be_hidden()
    await check_page(page)
    await browser.screenshot(page, "signed-out-phone")
    await prompt.get_by_role("button", name="Sign in").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading", name="Sign in")).to_be_visible()
    await dialog.get_by_label("Username").fill(demo.VIEWER)
    await dialog.get_by_label("Password").fill(demo.PASSWORD)
    await dialog.get_by_role("button", name="Sign in").click()
    # Signed in, the page reloads with the buyer's (empty) list.
    await expect(page.locator("#orders-status")).to_have_text(
        "You have no orders yet. Find something in a live."
    )
    await expect(page.get_by_role("link", name="My orders")).to_be_visible()
    await check_page(page)
    await page.set_viewport_size(DESKTOP)
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "empty-desktop")
    browser.assert_no_console_errors()
