"""Helpers for the page tests: a real Chromium through Playwright, signed-in pages,
console-error collection, screenshots and a few accessibility checks.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); Playwright's
own browser download is never used. Without Chromium or the ``playwright``
package the tests are skipped with the reason (with ``CI=true`` they fail).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import demo
from app.demo import DemoShop
from app.tokens import TokenSigner
from tests.services import unavailable

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Screenshots land here (git-ignored); LIVECART_SCREENSHOTS moves them.
SCREENSHOTS = Path(
    os.environ.get("LIVECART_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "test-results" / "pages"
)


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def require_browser() -> str:
    """The Chromium binary, after checking Playwright is importable (else skip/fail)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable("the 'playwright' package is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        unavailable("no Chromium found (apt-get install chromium): page tests skipped")
    assert path is not None
    return path


@dataclass
class PageLog:
    """Console errors and uncaught exceptions of one page."""

    name: str
    errors: list[str] = field(default_factory=list)
    # Browser-level messages that are expected in a test (e.g. while the server is down).
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


class Browser:
    """One Chromium for a test; pages signed in as anyone by planting a token."""

    def __init__(self, browser: Any, base_url: str, shots: Path) -> None:
        self.browser = browser
        self.base_url = base_url
        self.shots = shots
        self.logs: list[PageLog] = []
        self.contexts: list[Any] = []

    async def page(
        self,
        name: str,
        path: str,
        *,
        session: dict[str, Any] | None = None,
        viewport: dict[str, int] = PHONE,
        **options: Any,
    ) -> Any:
        """Open ``path`` in a fresh context, signed in as ``session`` ({token, user});
        ``options`` go to the context (``locale``, ``timezone_id``)."""
        context = await self.browser.new_context(viewport=viewport, base_url=self.base_url,
                                                 **options)  # fmt: skip
        self.contexts.append(context)
        if session is not None:
            token, user = json.dumps(session["token"]), json.dumps(json.dumps(session["user"]))
            await context.add_init_script(
                f"localStorage.setItem('livecart.token', {token});"
                f"localStorage.setItem('livecart.user', {user});"
            )
        page = await context.new_page()
        log = PageLog(name)
        self.logs.append(log)
        page.on("console", lambda msg: msg.type == "error" and log.errors.append(msg.text))
        page.on("pageerror", lambda exc: log.errors.append(f"uncaught: {exc}"))
        page.livecart_log = log
        await page.goto(path)
        return page

    async def screenshot(self, page: Any, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    def console_problems(self) -> dict[str, list[str]]:
        return {log.name: log.problems() for log in self.logs if log.problems()}

    def assert_no_console_errors(self) -> None:
        problems = self.console_problems()
        assert not problems, f"JavaScript console errors: {problems}"

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@contextlib.asynccontextmanager
async def open_browser(base_url: str, shots: Path) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    executable = require_browser()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        browser = Browser(chromium, base_url, shots)
        try:
            yield browser
        finally:
            await browser.close()
            await chromium.close()
    browser.assert_no_console_errors()


# Inputs without a label, buttons without a name or out of the tab order, text
# below WCAG AA contrast: see the script's own comment.
A11Y_SCRIPT = (Path(__file__).parent / "pages_a11y.js").read_text()


async def accessibility_problems(page: Any) -> list[str]:
    problems: list[str] = await page.evaluate(A11Y_SCRIPT)
    return problems


FOCUSED_SCRIPT = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const name = el.tagName + (el.id ? "#" + el.id : "") + " " + el.textContent.trim().slice(0, 20);
  return [name, s.outlineStyle, s.outlineWidth];
}"""


async def focus_is_visible(page: Any, presses: int = 6) -> list[str]:
    """Tab through the first controls; each focused one must show an outline."""
    missing = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        style = await page.evaluate(FOCUSED_SCRIPT)
        name, outline, width = style
        if name.startswith("BODY"):  # wrapped past the last control
            break
        if outline == "none" or width in {"0px", ""}:
            missing.append(name)
    return missing


ROLES = dict(demo.ACCOUNTS)


@dataclass
class Site:
    """The demo shop served for the page tests: its URL, data and token signer."""

    url: str
    shop: DemoShop
    tokens: TokenSigner

    def session(self, username: str) -> dict[str, Any]:
        uid = self.shop.users[username]
        user = {"id": uid, "username": username, "role": ROLES[username].value}
        return {"token": self.tokens.issue(uid), "user": user}

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session(username)['token']}"}

    @property
    def live(self) -> str:
        return f"/live/{self.shop.live_id}"

    @property
    def studio(self) -> str:
        return f"/studio/{self.shop.live_id}"


HEADPHONES = "Studio headphones"  # a demo product with stock 8: shows "only N left"


def expect(target: Any, **kwargs: Any) -> Any:
    """Playwright's ``expect`` (imported here: the module must load without Playwright)."""
    from playwright.async_api import expect as pw_expect

    return pw_expect(target, **kwargs)


# A viewer's saved address in the one-tap buying tests (bids, claims, waitlists).
BUYER_ADDRESS = {"name": "Bea Buyer", "line1": "1 Main St", "city": "Springfield",
                 "postal_code": "12345", "country": "US"}  # fmt: skip
LAMP = "Red desk lamp"  # a demo product: $45.00, 6 in stock


def lamp_id(site: Site) -> int:
    titles = [title for title, *_ in demo.PRODUCTS]
    return site.shop.product_ids[titles.index(LAMP)]


async def register(
    site: Site, username: str, *, profile: bool = True, card: str = "tok_visa"
) -> dict[str, Any]:
    """A new viewer ({token, user}), with a saved address and test card if ``profile``."""
    from tests.http_helpers import http_client  # httpx loads only for the page tests

    async with http_client(site.url) as http:
        body = {"username": username, "password": "correct horse", "role": "viewer"}
        resp = await http.post("/api/auth/register", json=body)
        assert resp.status_code == 201, resp.text
        session: dict[str, Any] = resp.json()
        headers = {"Authorization": f"Bearer {session['token']}"}
        if profile:
            put = await http.put("/api/me/address", json=BUYER_ADDRESS, headers=headers)
            assert put.status_code == 200, put.text
            saved = await http.put("/api/me/payment-method", json={"token": card}, headers=headers)
            assert saved.status_code == 200, saved.text
        return session


async def fits_a_phone(page: Any, scope: str) -> None:
    """No sideways scrolling, and every button in ``scope`` at least 44 px tall and wide
    (measured once running animations, such as a card's entrance that scales it, end)."""
    await page.wait_for_function(
        "() => document.getAnimations().every((a) => a.playState !== 'running')"
    )
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, overflow
    small = await page.evaluate(
        """(scope) => [...document.querySelectorAll(scope + " button")]
            .filter((b) => b.getClientRects().length)
            .map((b) => [b.textContent.trim(), b.getBoundingClientRect()])
            .filter(([, r]) => r.height < 44 || r.width < 44)
            .map(([name, r]) => `${name} ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        scope,
    )
    assert small == [], small
