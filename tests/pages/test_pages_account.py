"""The header's account controls and the live socket's sign-in, in a real Chromium
(issue #11: finding 5, the page part; finding 6, the page part).

- The viewer page's socket signs in without the token in its URL (it goes in the
  ``Sec-WebSocket-Protocol`` header), and chat works through it.
- "Sign out" revokes this token only; "Account" → "Sign out everywhere" revokes
  every token of the account; "Account" → "Change password" keeps the page signed
  in with the new token while every older one stops working.
- A revoked token (401 ``token_revoked``) signs the page out locally.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from app import demo
from tests.http_helpers import http_client
from tests.pages_helpers import (
    DESKTOP,
    PHONE,
    Browser,
    Site,
    accessibility_problems,
    expect,
    require_browser,
)

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-new-password-1"
# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of (401|403) ")
TOKEN_KEY = "livecart.token"


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


class SocketWatch:
    """The page's sockets as Chromium's DevTools protocol sees them: the subprotocols each
    handshake offered (headers Playwright does not show) and which have had a frame."""

    def __init__(self) -> None:
        self.offered: dict[str, list[str]] = {}  # by DevTools request id
        self.urls: dict[str, str] = {}
        self.heard: set[str] = set()
        self.changed = asyncio.Condition()

    async def attach(self, page: Any) -> None:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on("Network.webSocketWillSendHandshakeRequest", self._handshake)
        cdp.on("Network.webSocketFrameReceived", self._frame)

    async def _handshake(self, params: dict[str, Any]) -> None:  # Playwright awaits these
        headers = {k.lower(): v for k, v in params["request"]["headers"].items()}
        offered = headers.get("sec-websocket-protocol", "").split(",")
        async with self.changed:
            self.offered[params["requestId"]] = [p.strip() for p in offered if p.strip()]
            self.changed.notify_all()

    async def _frame(self, params: dict[str, Any]) -> None:
        async with self.changed:
            self.heard.add(params["requestId"])
            self.changed.notify_all()

    def live_with(self, token: str) -> list[str]:
        """Ids of sockets that offered ``token`` and have received a frame."""
        wanted = f"livecart.token.{token}"
        return [i for i in self.heard if wanted in self.offered.get(i, [])]

    async def wait_live_with(self, token: str) -> None:
        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(lambda: bool(self.live_with(token)))


async def signed_in(
    browser: Browser, name: str, path: str, session: dict[str, Any], **kwargs: Any
) -> Any:
    """A page signed in once, by storing ``session`` as a sign-in does: unlike
    ``Browser.page(session=...)`` no script plants it again on every load, so a
    sign-out survives a reload. Sockets opened on ``path`` can be watched
    (``page.livecart_sockets``)."""
    page = await browser.page(name, "/", **kwargs)
    await page.evaluate(
        "([key, token, user]) => { localStorage.setItem(key, token);"
        " localStorage.setItem('livecart.user', JSON.stringify(user)); }",
        [TOKEN_KEY, session["token"], session["user"]],
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.livecart_sockets = sockets
    page.livecart_watch = SocketWatch()
    await page.livecart_watch.attach(page)
    await page.goto(path)
    return page


async def me_status(site: Site, token: str) -> tuple[int, str | None]:
    """``GET /api/me`` with ``token``: the status and the error code, if any."""
    async with http_client(site.url) as http:
        resp = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    code = resp.json()["error"]["code"] if resp.status_code >= 400 else None
    return resp.status_code, code


async def stored_token(page: Any) -> str | None:
    token: str | None = await page.evaluate(f"() => localStorage.getItem('{TOKEN_KEY}')")
    return token


async def chat_shows(page: Any, text: str) -> None:
    """Send ``text`` from the chat form; it comes back over the socket under our name."""
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send").click()
    message = page.locator(".chat-log .chat-msg").last
    await expect(message.locator(".chat-text")).to_have_text(text)
    await expect(message.locator(".chat-user")).to_have_text(demo.VIEWER)


async def test_the_live_page_socket_carries_no_token_in_its_url(
    site: Site, browser: Browser
) -> None:
    session = site.session(demo.VIEWER)
    page = await signed_in(browser, "viewer", site.live, session)
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await chat_shows(page, "signed in through the header")
    assert page.livecart_sockets, "the page opened no socket"
    for url in page.livecart_sockets:
        assert "token" not in url and session["token"] not in url, url
    # The token went in the handshake's Sec-WebSocket-Protocol header instead.
    await page.livecart_watch.wait_live_with(session["token"])
    offers = list(page.livecart_watch.offered.values())
    assert offers == [["livecart", f"livecart.token.{session['token']}"]], offers
    browser.assert_no_console_errors()


async def test_sign_out_revokes_this_token_only(site: Site, browser: Browser) -> None:
    here, elsewhere = site.session(demo.VIEWER), site.session(demo.VIEWER)
    page = await signed_in(browser, "viewer", site.live, here)
    await expect(page.locator(".who-name")).to_contain_text(demo.VIEWER)
    # Signed out once the page's start-up requests are done: one still on its way with
    # the token a moment after the revocation would answer 401 (a console error).
    await page.wait_for_load_state("networkidle")
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.locator("#sign-in-button")).to_be_visible()
    assert await stored_token(page) is None
    assert await me_status(site, here["token"]) == (401, "token_revoked")
    assert (await me_status(site, elsewhere["token"]))[0] == 200
    browser.assert_no_console_errors()


async def test_sign_out_everywhere_revokes_every_token(site: Site, browser: Browser) -> None:
    here, elsewhere = site.session(demo.VIEWER), site.session(demo.VIEWER)
    page = await signed_in(browser, "viewer", site.live, here)
    await page.wait_for_load_state("networkidle")  # as above: no request left in flight
    await page.get_by_role("button", name="Account").click()
    dialog = page.get_by_role("dialog", name="Your account")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Sign out everywhere").click()
    await expect(page.locator("#sign-in-button")).to_be_visible()
    assert await stored_token(page) is None
    for token in (here["token"], elsewhere["token"]):
        assert await me_status(site, token) == (401, "token_revoked")
    browser.assert_no_console_errors()


async def open_account(page: Any) -> Any:
    await page.get_by_role("button", name="Account").click()
    dialog = page.get_by_role("dialog", name="Your account")
    await expect(dialog).to_be_visible()
    return dialog


async def change_password(dialog: Any, current: str, new: str, confirm: str) -> None:
    await dialog.get_by_label("Current password").fill(current)
    await dialog.get_by_label("New password", exact=True).fill(new)
    await dialog.get_by_label("Confirm new password").fill(confirm)
    await dialog.get_by_role("button", name="Change password").click()


async def test_change_password_keeps_this_page_signed_in_with_a_new_token(
    site: Site, browser: Browser
) -> None:
    old, elsewhere = site.session(demo.VIEWER), site.session(demo.VIEWER)
    page = await signed_in(browser, "viewer", site.live, old)
    page.livecart_log.allowed.append(REFUSED)  # the wrong current password: 403
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    dialog = await open_account(page)
    assert await accessibility_problems(page) == []
    form = dialog.get_by_role("form", name="Change password")
    error = form.get_by_role("alert")

    await change_password(dialog, demo.PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    await expect(error).to_have_text("The new passwords do not match.")
    await change_password(dialog, "not-my-password", NEW_PASSWORD, NEW_PASSWORD)
    await expect(error).to_have_text(re.compile(r"\S"))  # the server's invalid_credentials
    await browser.screenshot(page, "account-wrong-password")
    assert await stored_token(page) == old["token"]

    await change_password(dialog, demo.PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    await expect(form.get_by_role("status")).to_have_text(re.compile("Password changed"))
    await expect(error).to_be_hidden()
    await browser.screenshot(page, "account-password-changed")
    new = await stored_token(page)
    assert new is not None and new != old["token"]
    assert await me_status(site, new) == (200, None)
    for token in (old["token"], elsewhere["token"]):
        assert await me_status(site, token) == (401, "token_revoked")

    # The page carries on signed in: its socket of the old token (closed 4401) is
    # replaced by one signed in with the new token.
    await page.livecart_watch.wait_live_with(new)
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.locator(".who-name")).to_contain_text(demo.VIEWER)
    await expect(page.locator("#banner")).to_be_hidden()
    await chat_shows(page, "still me after the change")
    async with http_client(site.url) as http:
        login = {"username": demo.VIEWER, "password": NEW_PASSWORD}
        assert (await http.post("/api/auth/login", json=login)).status_code == 200
    browser.assert_no_console_errors()


async def test_a_revoked_token_signs_the_page_out(site: Site, browser: Browser) -> None:
    revoked = site.session(demo.VIEWER)
    async with http_client(site.url) as http:
        auth = {"Authorization": f"Bearer {revoked['token']}"}
        assert (await http.post("/api/auth/logout", headers=auth)).status_code == 204
    page = await signed_in(browser, "index", "/", revoked)
    page.livecart_log.allowed.append(REFUSED)
    # The page's first authenticated call gets 401 token_revoked: signed out locally.
    await page.wait_for_function(f"() => localStorage.getItem('{TOKEN_KEY}') === null")
    await page.reload()
    await expect(page.locator("#sign-in-button")).to_be_visible()
    browser.assert_no_console_errors()


@pytest.mark.parametrize(("who", "path"), [(demo.VIEWER, "live"), (demo.STAFF, "fulfillment")])
async def test_the_header_fits_a_phone_with_the_account_controls(
    site: Site, browser: Browser, who: str, path: str
) -> None:
    url = site.live if path == "live" else f"/{path}"
    page = await signed_in(browser, f"header-{who}", url, site.session(who), viewport=PHONE)
    for name in ("Account", "Sign out"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, overflow
    await browser.screenshot(page, f"header-{who}-phone")
    await open_account(page)
    await browser.screenshot(page, f"account-dialog-{who}-phone")
    await page.set_viewport_size(DESKTOP)
    await browser.screenshot(page, f"account-dialog-{who}-desktop")
    browser.assert_no_console_errors()
