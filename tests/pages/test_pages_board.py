"""The staff fulfillment board (``/fulfillment``) in Chromium, at 1280×900 unless said:

- an accepted order goes to shipped with the keyboard only (Tab, Enter, typing): the row
  opens the drawer, Start picking, Mark packed, Ship… with carrier and tracking number;
  focus follows each step, comes back to the queue, and the order shows under Shipped
  with its tracking;
- an order placed over the API while the board is open appears in its queue through the
  /ws/fulfillment socket, with no further REST read of the board and no reload;
- Cancel (apart from the forward step) asks for a reason in a confirmation dialog; Escape
  backs out with nothing done; the history shows the note with who and when;
- the drawer shows the full shipping address, the return's RMA, reason and note, and the
  order's support ticket, which staff answer and close; receiving the return asks its
  condition; Refund asks for a reason; the packing slip opens as a PDF;
- two packed orders of one buyer ship together under one tracking number; with a third
  buyer's order the server's 409 ``not_shippable_together`` is shown in words and nothing
  ships; the pick list opens as a PDF;
- layout: the stage list is one column and the queue's table one line per order at
  1280 px, with Returned in view without scrolling; Late only and the search box filter;
  no sideways scroll at 390 px (board and drawer), 44 px buttons, accessibility checks,
  no console errors (the 4xx provoked on purpose aside);
- warehouses: the filter lists GET /api/warehouses ("All warehouses" first); choosing BER
  keeps only BER's orders, and an order for MAIN placed meanwhile stays off the board until
  All warehouses is chosen again (orders keep arriving over the socket, no reload); the
  queue shows each order's warehouse while all of several are shown, the drawer says where
  it ships from, the pick list is the chosen warehouse's (MAIN's for all) and its button
  says so; Clear filters resets it; without the warehouse list the board still works;
- a ``resync`` frame makes the board read everything again (a change made straight in the
  database shows); the network dropping shows "Offline", and an order placed meanwhile is
  on the board once the socket is back.

Orders are placed over the API for demo products by buyers registered with a saved address
and card; staff move them over the API where a test needs a later stage. ``accepted`` is
the fulfillment queue's: setups wait for its frame on a staff ``/ws/fulfillment`` socket of
their own. The page is only waited on through its elements and text.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app import accounts, demo
from app.accounts import Role
from checkout.models import Order
from common.times import utcnow
from tests.http_helpers import http_client
from tests.live_server import LiveServer
from tests.pages_helpers import (
    BUYER_ADDRESS,
    DESKTOP,
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

Who = dict[str, Any]
REFUSED = re.compile(r"status of 409 ")  # Chromium logs each 4xx; some are provoked here
MUG, TEE, LAMP = "Blue stoneware mug", "Sunny cotton tee", "Red desk lamp"
WAIT_S = 10.0


# The queue table's overflow past its box, its top, each header cell's top, each row's height.
TABLE_SHAPE = """() => {
  const t = document.querySelector('#queue-table');
  const top = (el) => Math.round(el.getBoundingClientRect().top);
  return {
    overflow: t.scrollWidth - t.parentElement.clientWidth,
    top: top(t),
    heads: [...t.querySelectorAll('thead > tr > *')].map(top),
    rows: [...t.querySelectorAll('tbody tr')].map((r) => r.getBoundingClientRect().height),
  };
}"""


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def staff_member(
    served: LiveServer, username: str = "sam_staff", role: Role = Role.STAFF
) -> Who:
    async with served.state.db.write() as session:
        user = await accounts.create_user(session, username, "password123", role)
    token = served.state.tokens.issue(user.uid)
    return {"token": token, "user": {"id": user.uid, "username": username, "role": role.value}}


def bearer(who: Who) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"}


def product(site: Site, title: str) -> int:
    return site.shop.product_ids[[t for t, *_ in demo.PRODUCTS].index(title)]


async def call(
    site: Site, who: Who, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    async with http_client(site.url) as http:
        resp = await http.request(method, path, json=body, headers=bearer(who))
        assert resp.status_code == status, resp.text
        return resp.json()


async def place(
    site: Site, buyer: Who, title: str, quantity: int = 1, shipping: Any = None
) -> dict[str, Any]:
    """An order to ``shipping`` (else the buyer's saved address), paid with the saved card."""
    body = {"product_id": product(site, title), "quantity": quantity, "shipping": shipping}
    async with http_client(site.url) as http:
        headers = {**bearer(buyer), "Idempotency-Key": uuid.uuid4().hex}
        resp = await http.post("/api/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        order: dict[str, Any] = resp.json()["order"]
        return order


async def accepted(
    site: Site, staff: Who, buyer: Who, title: str, quantity: int = 1, shipping: Any = None
) -> int:
    """An order, once the fulfillment queue accepted it: seen on the staff socket, as the
    board sees it (signed in with the token as a subprotocol; its pong says it listens)."""
    url = site.url.replace("http://", "ws://") + "/ws/fulfillment"
    offered = [Subprotocol("livecart"), Subprotocol(f"livecart.token.{staff['token']}")]
    async with connect(url, subprotocols=offered) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        while json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["type"] != "pong":
            pass
        order_id: int = (await place(site, buyer, title, quantity, shipping))["id"]
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            order = frame["data"].get("order") or {}
            if order.get("id") == order_id and order["status"] == "accepted":
                return order_id


async def move(site: Site, staff: Who, order_id: int, *steps: str) -> dict[str, Any]:
    order: dict[str, Any] = {}
    for to in steps:
        body: dict[str, Any] = {"to": to}
        if to == "shipped":
            body |= {"carrier": "UPS", "tracking_number": f"1Z{order_id:016d}"}
        order = (
            await call(site, staff, "POST", f"/api/fulfillment/orders/{order_id}/transition", body)
        )["order"]
    return order


async def open_board(
    browser: Browser,
    name: str,
    staff: Who,
    stage: str = "accepted",
    viewport: dict[str, int] = DESKTOP,
) -> Any:
    page = await browser.page(name, f"/fulfillment#{stage}", session=staff, viewport=viewport)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(page.locator("#queue")).to_have_attribute("aria-busy", "false")
    await expect(page.locator(f'.stage[data-stage="{stage}"]')).to_have_attribute(
        "aria-current", "true"
    )
    return page


def row(page: Any, order_id: int) -> Any:
    return page.locator(f'#queue-rows tr[data-order-id="{order_id}"]')


async def tab_to(page: Any, selector: str, *, backwards: bool = False, limit: int = 60) -> None:
    """Press Tab (Shift+Tab) until the focused element matches ``selector``."""
    for _ in range(limit):
        await page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_keyboard_only_moves_an_accepted_order_to_shipped(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_keys")
    order_id = await accepted(site, sam, bea, MUG, 2)
    page = await open_board(browser, "keyboard", sam)
    await expect(row(page, order_id)).to_contain_text(MUG)
    await expect(row(page, order_id)).to_contain_text("bea_keys")

    await tab_to(page, f'[data-open="{order_id}"]')
    await page.keyboard.press("Enter")
    drawer = page.locator("#order-drawer")
    await expect(page.locator("#drawer-title")).to_be_focused()
    await expect(page.locator("#drawer-title")).to_have_text(f"Order #{order_id}")
    status = drawer.locator(".drawer-status .badge").first

    await tab_to(page, '[data-to="picking"]')
    await page.keyboard.press("Enter")
    await expect(status).to_have_text("Picking")
    await expect(drawer.get_by_role("button", name="Mark packed")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(status).to_have_text("Packed")
    await expect(drawer.get_by_role("button", name="Ship…")).to_be_focused()
    await page.keyboard.press("Enter")
    ship = page.locator("#ship-dialog")
    await expect(ship.get_by_label("Carrier")).to_be_focused()
    await page.keyboard.type("DHL")
    await page.keyboard.press("Tab")
    await expect(ship.get_by_label("Tracking number")).to_be_focused()
    await page.keyboard.type("JD014600006281")
    await browser.screenshot(page, "keyboard-ship-dialog")
    await page.keyboard.press("Enter")
    await expect(ship).to_have_count(0)
    await expect(status).to_have_text("Shipped")
    await expect(drawer.locator('section[aria-labelledby="drawer-dates"]')).to_contain_text(
        "DHL · JD014600006281"
    )
    await expect(drawer.get_by_role("button", name="Mark delivered")).to_be_focused()
    history = drawer.locator(".history li")
    await expect(history).to_have_count(5)
    await expect(history.last).to_contain_text("by sam_staff")

    await page.keyboard.press("Escape")
    await expect(drawer).to_have_count(0)
    await expect(page.locator("#queue-title")).to_be_focused()  # its row left this queue
    await expect(row(page, order_id)).to_have_count(0)
    await tab_to(page, '[data-stage="shipped"]', backwards=True)
    await page.keyboard.press("Enter")
    await expect(page.locator("#queue-title")).to_have_text("Shipped")
    await expect(row(page, order_id).locator(".tracking-no")).to_have_text("JD014600006281")
    await expect(row(page, order_id).locator(".col-tracking .cell-sub")).to_have_text("DHL")
    await browser.screenshot(page, "keyboard-shipped")
    browser.assert_no_console_errors()


async def test_an_order_placed_while_the_board_is_open_arrives_over_the_socket(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_live")
    page = await open_board(browser, "socket", sam)
    await expect(page.locator("#queue-rows")).to_contain_text("No accepted orders.")
    reads: list[str] = []
    page.on("request", lambda r: "/api/fulfillment/orders" in r.url and reads.append(r.url))
    page.on("framenavigated", lambda frame: reads.append(f"navigated to {frame.url}"))

    order = await place(site, bea, TEE, 3)
    new_row = row(page, order["id"])
    await expect(new_row).to_be_visible(timeout=WAIT_S * 1000)  # placed → accepted by the queue
    await expect(new_row).to_contain_text(TEE)
    await expect(new_row).to_contain_text("bea_live")
    await expect(new_row.locator(".col-qty")).to_have_text("3")
    await expect(new_row).to_contain_text("just now")
    await expect(page.locator('.stage[data-stage="accepted"] .stage-count')).to_have_text("1 order")
    assert reads == [], reads  # neither a REST read of the board nor a reload: the socket
    await browser.screenshot(page, "socket-new-order")
    browser.assert_no_console_errors()


async def test_cancel_asks_for_a_reason_and_the_history_keeps_it(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_cancel")
    order_id = await accepted(site, sam, bea, LAMP)
    page = await open_board(browser, "cancel", sam)
    await row(page, order_id).click()
    drawer = page.locator("#order-drawer")
    # The destructive step sits apart from the forward one.
    assert await drawer.locator(".drawer-danger button").all_text_contents() == ["Cancel order…"]
    await expect(drawer.locator(".drawer-danger [data-to=picking]")).to_have_count(0)

    cancel = drawer.get_by_role("button", name="Cancel order…")
    await cancel.click()
    dialog = page.locator("#cancel-dialog")
    reason = dialog.get_by_label("Reason for cancelling")
    await expect(reason).to_be_focused()
    await expect(dialog).to_contain_text("cannot be undone")
    await page.keyboard.press("Escape")  # backing out does nothing
    await expect(dialog).to_have_count(0)
    await expect(cancel).to_be_focused()
    await expect(drawer.locator(".drawer-status .badge").first).to_have_text("Accepted")

    await cancel.click()
    await dialog.get_by_role("button", name="Cancel the order").click()  # no reason yet
    await expect(dialog).to_be_visible()
    assert await reason.evaluate("(el) => el.validity.valueMissing")
    await reason.fill("Shelf empty: the last unit was broken")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "cancel-dialog")
    await dialog.get_by_role("button", name="Cancel the order").click()
    await expect(dialog).to_have_count(0)
    await expect(drawer.locator(".drawer-status .badge").first).to_have_text("Cancelled")
    last = drawer.locator(".history li").last
    await expect(last).to_contain_text("Cancelled")
    await expect(last).to_contain_text("by sam_staff")
    await expect(last.locator(".history-note")).to_have_text(
        "Note: Shelf empty: the last unit was broken"
    )
    await expect(drawer.locator(".drawer-danger")).to_have_count(0)
    await browser.screenshot(page, "cancel-history")

    order = (await call(site, sam, "GET", f"/api/orders/{order_id}"))["order"]
    assert order["status"] == "cancelled"
    assert order["history"][-1]["note"] == "Shelf empty: the last unit was broken"
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name=re.compile("^Done")).click()
    await expect(row(page, order_id)).to_contain_text("Cancelled")
    browser.assert_no_console_errors()


async def test_the_drawer_shows_the_address_the_return_and_its_ticket(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_returns")
    order_id = await accepted(site, sam, bea, MUG)
    await move(site, sam, order_id, "picking", "packed", "shipped", "delivered")
    note = "Chipped rim\nThe box was crushed too"
    back = await call(
        site, bea, "POST", f"/api/orders/{order_id}/return", {"reason": "damaged", "note": note}
    )
    rma = back["order"]["return"]["rma"]
    await call(
        site,
        bea,
        "POST",
        f"/api/orders/{order_id}/tickets",
        {"text": "It arrived broken. Photo attached."},
        201,
    )

    page = await open_board(browser, "returns", sam, stage="return_requested")
    await expect(row(page, order_id)).to_contain_text(rma)
    await expect(row(page, order_id)).to_contain_text("Damaged")
    await row(page, order_id).click()
    drawer = page.locator("#order-drawer")
    address = drawer.locator("address")
    for part in (BUYER_ADDRESS["name"], BUYER_ADDRESS["line1"], "12345 Springfield", "US"):
        await expect(address).to_contain_text(part)
    ret = drawer.locator('section[aria-labelledby="drawer-return"]')
    await expect(ret).to_contain_text(rma)
    await expect(ret).to_contain_text("Damaged")
    await expect(ret).to_contain_text("Chipped rim")
    await expect(ret).to_contain_text("The box was crushed too")
    await expect(ret).to_contain_text("Not received yet")
    ticket = drawer.locator(".ticket")
    await expect(ticket).to_contain_text("It arrived broken. Photo attached.")
    await expect(ticket.locator(".badge")).to_have_text("open")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "returns-drawer")

    # The packing slip: fetched with the token, opened as a PDF in a new tab.
    async with (
        page.expect_response(re.compile(r"/packing-slip$")) as slip_info,
        page.context.expect_page() as tab_info,
    ):
        await drawer.get_by_role("link", name="Packing slip (PDF)").click()
    slip = await slip_info.value
    assert slip.status == 200 and slip.headers["content-type"] == "application/pdf"
    tab = await tab_info.value
    await tab.wait_for_url(re.compile(r"^blob:"))
    await tab.close()

    # Answer and close the ticket.
    await ticket.get_by_label(re.compile("Reply to ticket")).fill(
        "Sorry! Send it back; we refund on arrival."
    )
    await ticket.get_by_role("button", name="Send reply").click()
    await expect(ticket.locator(".ticket-messages li")).to_have_count(2)
    await expect(ticket.locator(".ticket-messages li").last).to_contain_text("sam_staff (staff)")
    await expect(ticket.locator(".badge")).to_have_text("answered")
    await ticket.get_by_role("button", name="Close ticket").click()
    await expect(ticket.locator(".badge")).to_have_text("closed")
    await expect(ticket.get_by_role("button", name="Send reply")).to_have_count(0)
    (listed,) = (await call(site, bea, "GET", f"/api/tickets?order_id={order_id}"))["tickets"]
    assert listed["status"] == "closed"
    assert listed["messages"][-1]["text"] == "Sorry! Send it back; we refund on arrival."

    # Receive the return (its condition), then refund it (with a reason).
    await drawer.get_by_role("button", name="Receive return…").click()
    receive = page.locator("#receive-dialog")
    await receive.get_by_label(re.compile("^Damaged")).check()
    await receive.get_by_role("button", name="Mark returned").click()
    await expect(drawer.locator(".drawer-status .badge").first).to_have_text("Returned")
    await expect(ret).to_contain_text("Damaged")
    await expect(ret).not_to_contain_text("Not received yet")
    await drawer.get_by_role("button", name="Refund…").click()
    refund = page.locator("#refund-dialog")
    await expect(refund).to_contain_text("The whole total, $18.00, goes back to bea_returns's card")
    await refund.get_by_label("Reason for the refund").fill("Arrived damaged")
    await refund.get_by_role("button", name="Refund $18.00").click()
    await expect(drawer.locator(".drawer-status .badge").first).to_have_text("Refunded")
    await expect(drawer.locator(".history li").last).to_contain_text("Note: Arrived damaged")
    await expect(drawer.locator('section[aria-labelledby="drawer-item"]')).to_contain_text(
        "Refunded"
    )

    await page.set_viewport_size(PHONE)
    await fits_a_phone(page, "#order-drawer")
    await browser.screenshot(page, "returns-drawer-phone")
    browser.assert_no_console_errors()


async def test_two_packed_orders_of_one_buyer_ship_together(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_bundle")
    cam = await register(site, "cam_other")
    ours = [await accepted(site, sam, bea, MUG), await accepted(site, sam, bea, TEE, 2)]
    theirs = await accepted(site, sam, cam, LAMP)
    for order_id in [*ours, theirs]:
        await move(site, sam, order_id, "picking", "packed")
    page = await open_board(browser, "bundle", sam, stage="packed")
    page.livecart_log.allowed.append(REFUSED)
    await expect(page.locator("#queue-rows tr")).to_have_count(3)
    together = page.get_by_role("button", name="Ship together…")
    await expect(together).to_be_disabled()

    # The pick list: the warehouse's PDF, fetched with the token.
    async with (
        page.expect_response(re.compile(r"/pick-list\?warehouse=MAIN$")) as pick_info,
        page.context.expect_page() as tab_info,
    ):
        await page.get_by_role("button", name="Pick list MAIN (PDF)").click()
    assert (await pick_info.value).headers["content-type"] == "application/pdf"
    await (await tab_info.value).close()

    for order_id in [*ours, theirs]:
        await page.get_by_label(f"Select order #{order_id} to ship together").check()
    await expect(page.locator("#bulk-count")).to_have_text("3 selected")
    await together.click()
    ship = page.locator("#ship-dialog")
    await ship.get_by_label("Carrier").fill("UPS")
    await ship.get_by_label("Tracking number").fill("1Z999AA10123456784")
    await ship.get_by_role("button", name="Ship 3 orders").click()
    await expect(ship.locator(".form-error")).to_contain_text("cannot go in one parcel")
    await expect(ship.locator(".form-error")).to_contain_text("different buyers")
    await browser.screenshot(page, "bundle-refused")
    await ship.get_by_role("button", name="Back").click()
    await expect(page.locator("#queue-rows tr")).to_have_count(3)  # nothing shipped

    await page.get_by_label(f"Select order #{theirs} to ship together").uncheck()
    await expect(page.locator("#bulk-count")).to_have_text("2 selected")
    await together.click()
    await ship.get_by_label("Carrier").fill("UPS")
    await ship.get_by_label("Tracking number").fill("1Z999AA10123456784")
    await ship.get_by_role("button", name="Ship 2 orders").click()
    await expect(ship).to_have_count(0)
    await expect(page.locator("#queue-rows tr")).to_have_count(1)
    await expect(row(page, theirs)).to_be_visible()
    await page.get_by_role("button", name=re.compile("^Shipped")).click()
    for order_id in ours:
        await expect(row(page, order_id).locator(".tracking-no")).to_have_text("1Z999AA10123456784")
        await expect(row(page, order_id).locator(".col-tracking .cell-sub")).to_contain_text(
            "UPS · shipment #"
        )
    await browser.screenshot(page, "bundle-shipped")
    shipped = [(await call(site, sam, "GET", f"/api/orders/{i}"))["order"] for i in ours]
    assert {o["status"] for o in shipped} == {"shipped"}
    assert len({o["shipment_id"] for o in shipped}) == 1 and shipped[0]["shipment_id"]
    browser.assert_no_console_errors()


async def test_the_board_fits_1280_and_390_filters_and_passes_the_checks(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_layout")
    cam = await register(site, "cam_layout")
    late_id = await accepted(site, sam, bea, MUG)
    others = [await accepted(site, sam, cam, TEE), await accepted(site, sam, cam, LAMP, 2)]
    returned_id = await accepted(site, sam, bea, TEE)
    await move(site, sam, returned_id, "picking", "packed", "shipped", "delivered")
    await call(
        site,
        bea,
        "POST",
        f"/api/orders/{returned_id}/return",
        {"reason": "wrong_item", "note": "Wrong size"},
    )
    async with served.state.db.write() as session:  # overdue: its ship-by passed an hour ago
        await session.exec(
            update(Order).where(Order.id == late_id).values(ship_by=utcnow() - timedelta(hours=1))
        )

    page = await open_board(browser, "layout", sam)
    await expect(page.locator("#queue-rows tr")).to_have_count(3)
    await expect(row(page, late_id).locator(".badge-late")).to_have_text("Late")
    await expect(page.locator('.stage[data-stage="accepted"] .stage-late')).to_have_text("1 late")
    nav = await page.locator(".stage").evaluate_all(
        "(bs) => bs.map((b) => b.getBoundingClientRect().toJSON())"
    )
    assert len(nav) == 9
    assert len({round(b["left"]) for b in nav}) == 1, nav  # one column: nothing wraps into rows
    assert all(b["height"] < 56 for b in nav), nav  # each label on one line
    assert max(b["bottom"] for b in nav) < DESKTOP["height"], nav  # Returned and Done in view
    table = await page.evaluate(TABLE_SHAPE)
    assert table["overflow"] <= 0 and len(set(table["heads"])) == 1, table
    assert table["top"] < 400 and all(h < 64 for h in table["rows"]), table
    await expect(page.locator("#queue-head .col-warehouse")).to_have_count(0)  # MAIN alone
    assert await page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
    assert await accessibility_problems(page) == []
    assert await focus_is_visible(page, presses=12) == []
    await browser.screenshot(page, "board-1280")

    # Filters: late only, then the search box (a buyer's name, an order number).
    await page.get_by_label("Late only").check()
    await expect(page.locator("#queue-rows tr")).to_have_count(1)
    await expect(row(page, late_id)).to_be_visible()
    await page.get_by_label("Late only").uncheck()
    await expect(page.locator("#queue-rows tr")).to_have_count(3)
    search = page.get_by_label("Search")
    await search.fill("CAM_LAYOUT")
    await search.press("Enter")
    await expect(page.locator("#queue-rows tr")).to_have_count(2)
    for order_id in others:
        await expect(row(page, order_id)).to_be_visible()
    await search.fill(str(returned_id))
    await search.press("Enter")
    await expect(page.locator("#queue-rows")).to_contain_text("Matches in: Return requested (1)")
    await page.get_by_role("button", name=re.compile("^Return requested")).click()
    await expect(row(page, returned_id)).to_contain_text("Wrong item")
    await expect(page.get_by_label("Warehouse")).to_have_value("")  # all warehouses
    await browser.screenshot(page, "board-1280-search")
    await search.fill("")
    await search.press("Enter")
    await page.get_by_role("button", name=re.compile("^Accepted")).click()
    await expect(page.locator("#queue-rows tr")).to_have_count(3)

    await page.set_viewport_size(PHONE)
    await fits_a_phone(page, "#board")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "board-390")
    await row(page, late_id).click()
    await expect(page.locator("#drawer-title")).to_be_focused()
    await fits_a_phone(page, "#order-drawer")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "drawer-390")
    await page.keyboard.press("Escape")
    await expect(page.locator(f'[data-open="{late_id}"]')).to_be_focused()
    browser.assert_no_console_errors()


async def test_the_board_reads_again_on_resync_and_after_a_reconnect(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_resync")
    first = await accepted(site, sam, bea, MUG)
    page = await open_board(browser, "resync", sam)
    page.livecart_log.allowed.append(re.compile(r"WebSocket connection to .* failed"))
    await expect(row(page, first)).to_be_visible()
    await expect(row(page, first).locator(".badge-late")).to_have_count(0)
    reads: list[str] = []
    page.on("request", lambda r: "/api/fulfillment/orders?" in r.url and reads.append(r.url))

    # A change no frame announced (made straight in the database), then the server's
    # `resync` frame (sent when its broker reconnects): the board reads everything again.
    async with served.state.db.write() as session:
        await session.exec(
            update(Order).where(Order.id == first).values(ship_by=utcnow() - timedelta(hours=3))
        )
    served.state.board._on_reconnect()
    await expect(row(page, first).locator(".badge-late")).to_have_text("Late")
    await expect(row(page, first)).to_contain_text("3 h overdue")
    assert reads, "no REST read after resync"

    # The network drops: the indicator says so; an order placed meanwhile (its frames
    # missed) is on the board once the socket is back, read over REST again.
    await page.context.set_offline(True)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    await expect(page.locator("#conn")).to_contain_text("Offline")
    await browser.screenshot(page, "resync-offline")
    second = await accepted(site, sam, bea, TEE)
    await page.context.set_offline(False)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(row(page, second)).to_be_visible()
    await expect(page.locator('.stage[data-stage="accepted"] .stage-count')).to_have_text(
        "2 orders"
    )
    browser.assert_no_console_errors()


BERLIN = {"name": "Bea Buyer", "line1": "Torstraße 1", "city": "Berlin",
          "postal_code": "10119", "country": "DE"}  # fmt: skip


async def two_warehouses(site: Site, served: LiveServer) -> None:
    """BER (Berlin, DE) next to MAIN (US), both holding mugs, added by an admin."""
    ada = await staff_member(served, "ada_admin", Role.ADMIN)
    body = {"code": "BER", "name": "Berlin", "country": "DE"}
    await call(site, ada, "POST", "/api/warehouses", body, 201)
    for code, units in (("MAIN", 20), ("BER", 10)):
        path = f"/api/products/{product(site, MUG)}/inventory/{code}"
        await call(site, ada, "PUT", path, {"on_hand": units})


async def test_the_warehouse_filter_keeps_one_warehouse_live_and_names_its_pick_list(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    await two_warehouses(site, served)
    bea = await register(site, "bea_warehouses")
    berlin = await accepted(site, sam, bea, MUG, shipping=BERLIN)
    main = await accepted(site, sam, bea, MUG)
    for order_id, code in ((berlin, "BER"), (main, "MAIN")):
        assert (await call(site, sam, "GET", f"/api/orders/{order_id}"))["order"][
            "warehouse"
        ] == code

    page = await open_board(browser, "warehouses", sam)
    warehouse = page.get_by_label("Warehouse")
    pick_list = page.locator("#pick-list")
    await expect(warehouse.locator("option")).to_have_text(
        ["All warehouses", "MAIN — Main warehouse (US)", "BER — Berlin (DE)"]
    )
    await expect(warehouse).to_have_value("")
    await expect(page.locator("#clear-filters")).to_be_hidden()
    await expect(pick_list).to_have_text("Pick list MAIN (PDF)")
    # All warehouses: each row says where it ships from, one line per order at 1280 px.
    await expect(page.locator("#queue-rows tr")).to_have_count(2)
    await expect(row(page, berlin).locator(".col-warehouse")).to_have_text("BER")
    await expect(row(page, main).locator(".col-warehouse")).to_have_text("MAIN")
    table = await page.evaluate(TABLE_SHAPE)
    assert table["overflow"] <= 0 and len(set(table["heads"])) == 1, table
    assert all(h < 64 for h in table["rows"]), table
    await browser.screenshot(page, "warehouses-all-1280")

    # BER, chosen with the keyboard: only its order, the button names its pick list.
    await warehouse.focus()
    await page.keyboard.press("End")
    await expect(warehouse).to_have_value("BER")
    await expect(page.locator("#queue-rows tr")).to_have_count(1)
    await expect(row(page, berlin)).to_be_visible()
    await expect(page.locator("#queue-meta")).to_contain_text("filtered: BER only")
    await expect(page.locator("#queue-head .col-warehouse")).to_have_count(0)  # one warehouse
    await expect(page.locator("#clear-filters")).to_be_visible()
    await expect(pick_list).to_have_text("Pick list BER (PDF)")
    async with (
        page.expect_response(re.compile(r"/pick-list\?warehouse=BER$")) as pick_info,
        page.context.expect_page() as tab_info,
    ):
        await page.get_by_role("button", name="Pick list BER (PDF)").click()
    picked = await pick_info.value
    assert picked.status == 200 and picked.headers["content-type"] == "application/pdf"
    await (await tab_info.value).close()

    # From here on the board is only told by its socket: no REST read of it, no reload.
    reads: list[str] = []
    page.on("request", lambda r: "/api/fulfillment/orders" in r.url and reads.append(r.url))
    await page.evaluate("() => { window.sameBoard = true; }")  # gone if the page reloads
    # An order for MAIN, accepted (its frames sent), then one for BER: once BER's shows,
    # MAIN's frames have come and gone without a row.
    later_main = await accepted(site, sam, bea, MUG)
    later_berlin = await accepted(site, sam, bea, MUG, shipping=BERLIN)
    await expect(row(page, later_berlin)).to_be_visible()
    await expect(row(page, later_main)).to_have_count(0)
    await expect(page.locator("#queue-rows tr")).to_have_count(2)
    await expect(page.locator('.stage[data-stage="accepted"] .stage-count')).to_have_text(
        "2 orders"
    )
    assert reads == [], reads
    await row(page, later_berlin).click()
    drawer = page.locator("#order-drawer")
    dates = drawer.locator('section[aria-labelledby="drawer-dates"]')
    await expect(dates.locator("dt").first).to_have_text("Ships from")
    await expect(dates.locator("dd").first).to_have_text("BER — Berlin (DE)")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "warehouses-ber-drawer")
    await page.keyboard.press("Escape")
    await expect(drawer).to_have_count(0)
    await browser.screenshot(page, "warehouses-ber-1280")

    # Another stage with nothing from BER says so.
    await page.get_by_role("button", name=re.compile("^Packed")).click()
    await expect(page.locator("#queue-rows")).to_have_text(
        "No packed orders ship from BER. Matches in: Accepted (2)."
    )
    await page.get_by_role("button", name=re.compile("^Accepted")).click()

    # All warehouses again: MAIN's orders are back (read with the new filter), and a new
    # one for MAIN arrives over the socket alone.
    await warehouse.select_option("")
    await expect(row(page, later_main)).to_be_visible()
    await expect(page.locator("#queue-rows tr")).to_have_count(4)
    await expect(pick_list).to_have_text("Pick list MAIN (PDF)")
    await expect(page.locator("#queue")).to_have_attribute("aria-busy", "false")
    reads.clear()
    newest = (await place(site, bea, MUG))["id"]
    await expect(row(page, newest).locator(".col-warehouse")).to_have_text(
        "MAIN", timeout=WAIT_S * 1000
    )  # placed → accepted by the queue
    assert reads == [], reads
    assert await page.evaluate("() => window.sameBoard === true")

    # Clear filters resets the warehouse too.
    await warehouse.select_option("BER")
    await expect(page.locator("#queue-rows tr")).to_have_count(2)
    await page.get_by_role("button", name="Clear filters").click()
    await expect(warehouse).to_have_value("")
    await expect(page.locator("#queue-rows tr")).to_have_count(5)
    await expect(pick_list).to_have_text("Pick list MAIN (PDF)")
    await expect(page.locator("#clear-filters")).to_be_hidden()

    # A phone: the filter, the warehouse on each card, and the drawer fit.
    await warehouse.select_option("BER")
    await expect(page.locator("#queue-rows tr")).to_have_count(2)
    await page.set_viewport_size(PHONE)
    await fits_a_phone(page, "#board")
    assert await accessibility_problems(page) == []
    await browser.screenshot(page, "warehouses-ber-390")
    await page.get_by_role("button", name="Clear filters").click()
    await expect(page.locator("#queue-rows tr")).to_have_count(5)
    await expect(row(page, berlin).locator(".col-warehouse")).to_have_text("BER")
    await fits_a_phone(page, "#board")
    await browser.screenshot(page, "warehouses-all-390")
    await row(page, berlin).click()
    await expect(drawer.locator('section[aria-labelledby="drawer-dates"]')).to_contain_text(
        "BER — Berlin (DE)"
    )
    await fits_a_phone(page, "#order-drawer")
    await browser.screenshot(page, "warehouses-drawer-390")
    browser.assert_no_console_errors()


async def test_the_board_works_without_the_warehouse_list(
    site: Site, served: LiveServer, browser: Browser
) -> None:
    sam = await staff_member(served)
    bea = await register(site, "bea_nolist")
    order_id = await accepted(site, sam, bea, MUG)
    page = await open_board(browser, "no-warehouses", sam)
    await expect(page.get_by_label("Warehouse").locator("option")).to_have_count(2)
    # The warehouse list now fails (the page is read again, so it is asked for again).
    page.livecart_log.allowed.append(re.compile(r"status of 503 "))
    await page.route("**/api/warehouses", lambda route: route.fulfill(status=503))
    async with page.expect_response(re.compile(r"/api/warehouses$")) as listed:
        await page.reload()
    assert (await listed.value).status == 503
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(row(page, order_id)).to_be_visible()
    await expect(page.get_by_label("Warehouse").locator("option")).to_have_text(["All warehouses"])
    await expect(page.locator("#pick-list")).to_have_text("Pick list MAIN (PDF)")
    await expect(page.locator("#queue-table .col-warehouse")).to_have_count(0)  # all MAIN
    await row(page, order_id).click()
    drawer = page.locator("#order-drawer")
    dates = drawer.locator('section[aria-labelledby="drawer-dates"]')
    await expect(dates.locator("dt").first).to_have_text("Ships from")
    await expect(dates.locator("dd").first).to_have_text("MAIN")
    await expect(page.locator("#banner")).to_be_hidden()
    browser.assert_no_console_errors()
