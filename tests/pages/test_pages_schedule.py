"""Scheduled shows, show settings and replay sales in Chromium, read in en-GB from a
browser in Asia/Kolkata (UTC+05:30 all year: a zone that is neither UTC nor the server's).

The home page lists the live on now, then the upcoming shows soonest first with their
start in the viewer's time ("Sat 12 Dec, 18:00", "in 5 hours") and the one without a time
last ("Time to be announced"), then past shows with "Watch the replay" (390 px; 1280 px).
A creator schedules a new live from the home page with the keyboard (a missing title is
refused under its field first). In the studio the
creator changes the title, sets a scheduled start (wall-clock time in the browser's zone,
sent with its offset) and a recording URL with the keyboard: only the changed fields are
sent, the header follows, the API has them; ``javascript:alert(1)`` is refused under its
field in the server's words and changes nothing. The studio's stats show a replay order
apart from the live's.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app import demo
from tests.http_helpers import http_client
from tests.order_helpers import SHIPPING, fresh_key
from tests.pages_helpers import (
    PHONE,
    Browser,
    Site,
    accessibility_problems,
    expect,
    fits_a_phone,
    focus_is_visible,
    require_browser,
)

pytestmark = pytest.mark.browser

ZONE = "Asia/Kolkata"
LOCALE = "en-GB"
LAPTOP = {"width": 1280, "height": 800}
MUG = demo.PRODUCTS[0]  # pinned on the demo's running live ("Friday night finds")
# Chromium reports every 4xx answer on the console; the refused saves are on purpose.
REFUSED = re.compile(r"status of 422 ")


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def zoned_page(
    browser: Browser,
    name: str,
    path: str,
    *,
    session: dict[str, Any] | None = None,
    viewport: dict[str, int] = PHONE,
) -> Any:
    """``Browser.page`` in en-GB and Asia/Kolkata."""
    return await browser.page(name, path, session=session, viewport=viewport, locale=LOCALE,
                              timezone_id=ZONE)  # fmt: skip


def local(when: datetime) -> datetime:
    return when.astimezone(ZoneInfo(ZONE))


def shown(when: datetime) -> str:
    """How en-GB writes a start: "Sat 12 Dec, 18:00" ("Sat, 2 Jan 2027, 18:00" in another
    year)."""
    at = local(when)
    if at.year != local(datetime.now(UTC)).year:
        return f"{at:%a}, {at.day} {at:%b %Y}, {at:%H:%M}"
    return f"{at:%a} {at.day} {at:%b}, {at:%H:%M}"


def iso_z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def api(site: Site, method: str, path: str, who: str, body: Any = None) -> Any:
    async with http_client(site.url) as http:
        resp = await http.request(method, path, json=body, headers=site.auth(who))
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None


async def new_live(site: Site, title: str, scheduled_at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title}
    if scheduled_at is not None:
        body["scheduled_at"] = scheduled_at.isoformat()
    live: dict[str, Any] = (await api(site, "POST", "/api/lives", demo.CREATOR, body))["live"]
    return live


async def get_live(site: Site, live_id: int) -> dict[str, Any]:
    live: dict[str, Any] = (await api(site, "GET", f"/api/lives/{live_id}", demo.CREATOR))["live"]
    return live


async def type_start(page: Any, field: Any, when: datetime) -> None:
    """Type a wall-clock time into a datetime-local input with the keyboard, segment by
    segment. Chromium lays the date out in its own UI language (month first in en-US, day
    first in en-GB), whatever the page's locale: month first is tried, then day first."""
    at = local(when)
    expected = f"{at:%Y-%m-%dT%H:%M}"
    for date in (f"{at:%m%d%Y}", f"{at:%d%m%Y}"):
        await field.focus()
        await page.keyboard.type(date)
        await page.keyboard.press("Tab")  # the year takes more digits: on to the hour
        await page.keyboard.type(f"{at:%H%M}")
        if await field.input_value() == expected:
            return
        await field.fill("")
    raise AssertionError(f"could not type {expected} into the datetime-local input")


async def test_home_lists_live_now_then_upcoming_by_start_then_past_shows(
    site: Site, browser: Browser
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    in_two_days = await new_live(site, "Sunday brunch finds", now + timedelta(days=2))
    unannounced = await new_live(site, "Mystery box night")
    tonight = await new_live(site, "Tonight's vinyl drop", now + timedelta(hours=5))
    past = await new_live(site, "Last week's clearance")
    await api(site, "POST", f"/api/lives/{past['id']}/start", demo.CREATOR)
    await api(site, "POST", f"/api/lives/{past['id']}/end", demo.CREATOR)

    page = await zoned_page(browser, "home-phone", "/")
    main = page.locator("#main")
    await expect(page.locator("#lives .live-card h3")).to_have_text([demo.LIVE_TITLE])
    await expect(main.locator("h1, h2")).to_have_text(
        ["Live now", "Upcoming shows", "Past shows", "Your account"]
    )
    upcoming = page.locator("#upcoming-lives .live-card")
    # Soonest first, whatever order they were created in; no time last.
    await expect(upcoming.locator("h3")).to_have_text(
        [tonight["title"], in_two_days["title"], unannounced["title"]]
    )
    for card, live, relative in (
        (upcoming.nth(0), tonight, "in 5 hours"),
        (upcoming.nth(1), in_two_days, "in 2 days"),
    ):
        when = card.locator(".live-when")
        start = datetime.fromisoformat(live["scheduled_at"])
        await expect(when.locator("time")).to_have_text(shown(start))
        await expect(when.locator(".when-rel")).to_have_text(relative)
        await expect(when.locator("time")).to_have_attribute("datetime", live["scheduled_at"])
        await expect(card.get_by_role("link", name=live["title"])).to_have_attribute(
            "href", f"/live/{live['id']}"
        )
    await expect(upcoming.nth(2).locator(".live-when")).to_have_text("Time to be announced")

    pasts = page.locator("#past-lives .live-card")
    await expect(pasts.locator("h3")).to_have_text([past["title"]])
    replay = pasts.get_by_role("link", name=f"Watch the replay: {past['title']}")
    await expect(replay).to_have_attribute("href", f"/replay/{past['id']}")
    await expect(replay).to_have_text(re.compile(r"^Watch the replay"))
    await fits_a_phone(page, "#main")
    assert await accessibility_problems(page) == []
    assert await focus_is_visible(page, presses=12) == []
    await browser.screenshot(page, "home-phone")

    wide = await zoned_page(browser, "home-laptop", "/", viewport=LAPTOP)
    await expect(wide.locator("#upcoming-lives .live-card")).to_have_count(3)
    await expect(wide.locator("#past-lives .live-card")).to_have_count(1)
    await browser.screenshot(wide, "home-laptop")
    browser.assert_no_console_errors()


async def test_creator_schedules_a_new_live_from_the_home_page(
    site: Site, browser: Browser
) -> None:
    page = await zoned_page(browser, "home-creator", "/", session=site.session(demo.CREATOR))
    page.livecart_log.allowed.append(REFUSED)
    form = page.locator("form", has=page.get_by_role("button", name="Create live"))
    start = local(datetime.now(UTC) + timedelta(days=2)).replace(
        hour=19, minute=15, second=0, microsecond=0
    )
    title = form.get_by_label("Title")
    await title.focus()
    await page.keyboard.press("Enter")  # no title: the server's 422, under the field
    await expect(form.locator("#live-title-error")).to_be_visible()
    await expect(title).to_have_attribute("aria-invalid", "true")
    await expect(title).to_be_focused()
    await page.keyboard.type("Late-night lamps")
    await type_start(page, form.get_by_label("Scheduled start (optional)"), start)
    # ICU may name the zone by its older name.
    await expect(form).to_contain_text(re.compile(r"Your time \(Asia/(Kolkata|Calcutta)\)"))
    await browser.screenshot(page, "home-new-scheduled-live")
    await page.keyboard.press("Enter")

    await expect(page).to_have_url(re.compile(r"/studio/\d+$"))
    live_id = int(page.url.rsplit("/", 1)[1])
    live = await get_live(site, live_id)
    assert (live["title"], live["status"]) == ("Late-night lamps", "scheduled")
    assert live["scheduled_at"] == iso_z(start)  # 19:15 in Kolkata is 13:45 UTC
    await expect(page.locator("#show-time")).to_have_text(f"Starts {shown(start)} · in 2 days")
    browser.assert_no_console_errors()


async def test_creator_edits_the_show_settings_in_the_studio(site: Site, browser: Browser) -> None:
    live = await new_live(site, "Spring preview")
    page = await zoned_page(
        browser, "studio-show", f"/studio/{live['id']}", session=site.session(demo.CREATOR)
    )
    page.livecart_log.allowed.append(REFUSED)
    patches: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: r.method == "PATCH" and patches.append(json.loads(r.post_data or "null")),
    )
    # Another studio of the same live, on a laptop: it follows the live_updated frame.
    other = await zoned_page(
        browser,
        "studio-show-laptop",
        f"/studio/{live['id']}",
        session=site.session(demo.CREATOR),
        viewport=LAPTOP,
    )
    await expect(page.locator("#show-time")).to_have_text("Start time to be announced")
    panel = page.locator("#show-panel")
    title = panel.get_by_label("Title")
    await expect(title).to_have_value("Spring preview")

    # With the keyboard: a new title, a start in three days at 18:30, a recording URL.
    start = local(datetime.now(UTC) + timedelta(days=3)).replace(
        hour=18, minute=30, second=0, microsecond=0
    )
    await title.focus()
    await page.keyboard.press("End")
    await page.keyboard.type(" (garden)")
    await type_start(page, panel.get_by_label("Scheduled start"), start)
    await panel.get_by_label("Recording URL").focus()
    await page.keyboard.type("https://cdn.example/spring.mp4")
    await page.keyboard.press("Tab")
    await expect(panel.get_by_role("button", name="Save changes")).to_be_focused()
    await page.keyboard.press("Enter")

    await expect(panel.locator("#show-status")).to_have_text("Saved.")
    await expect(page.locator("#live-title")).to_have_text("Spring preview (garden)")
    await expect(page).to_have_title("Studio: Spring preview (garden) — livecart")
    await expect(page.locator("#show-time")).to_have_text(f"Starts {shown(start)} · in 3 days")
    await expect(page.locator("#show-time time")).to_have_attribute("datetime", iso_z(start))
    # Only what changed went out (not the untouched stream URL); the start with its offset.
    assert patches == [
        {
            "title": "Spring preview (garden)",
            "recording_url": "https://cdn.example/spring.mp4",
            "scheduled_at": f"{start:%Y-%m-%dT%H:%M:%S}+05:30",
        }
    ]
    await expect(other.locator("#live-title")).to_have_text("Spring preview (garden)")
    await expect(other.locator("#show-time")).to_have_text(f"Starts {shown(start)} · in 3 days")
    await expect(other.locator("#show-panel").get_by_label("Recording URL")).to_have_value(
        "https://cdn.example/spring.mp4"
    )
    await browser.screenshot(other, "studio-show-laptop")
    saved = await get_live(site, live["id"])
    assert saved["title"] == "Spring preview (garden)"
    assert saved["scheduled_at"] == iso_z(start)
    assert saved["recording_url"] == "https://cdn.example/spring.mp4"
    assert saved["stream_url"] is None

    # A javascript: URL: the server's words under the field, nothing changed.
    recording = panel.get_by_label("Recording URL")
    await recording.focus()
    await page.keyboard.press("Control+A")
    await page.keyboard.type("javascript:alert(1)")
    await page.keyboard.press("Enter")
    error = panel.locator("#show-recording-error")
    await expect(error).to_have_text("Must be an http(s) URL or a path starting with /")
    await expect(recording).to_have_attribute("aria-invalid", "true")
    await expect(recording).to_have_attribute(
        "aria-describedby", "show-recording-error show-recording-help"
    )
    await expect(recording).to_be_focused()
    await expect(panel.locator("#show-status")).to_have_text("")
    assert patches[-1] == {"recording_url": "javascript:alert(1)"}
    assert await get_live(site, live["id"]) == saved
    await expect(page.locator("#live-title")).to_have_text("Spring preview (garden)")
    await fits_a_phone(page, "#show-panel")
    assert await accessibility_problems(page) == []
    await panel.scroll_into_view_if_needed()
    await browser.screenshot(page, "studio-show-refused")

    # Once live, the start is history: the field gives way to when it went live.
    await page.get_by_role("button", name="Go live").click()
    await expect(panel.get_by_label("Scheduled start")).to_be_hidden()
    await expect(panel.locator("#show-start-note")).to_contain_text("Went live")
    await expect(page.locator("#show-time")).to_be_hidden()
    browser.assert_no_console_errors()


async def test_studio_stats_show_replay_sales_apart(site: Site, browser: Browser) -> None:
    title, _, price, *_ = MUG
    mug_id = site.shop.product_ids[0]
    body = {"product_id": mug_id, "quantity": 1, "live_id": site.shop.live_id,
            "source": "replay", "shipping": SHIPPING}  # fmt: skip
    async with http_client(site.url) as http:
        headers = {**site.auth(demo.VIEWER), "Idempotency-Key": fresh_key()}
        resp = await http.post("/api/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        assert resp.json()["order"]["source"] == "replay"

    dollars = f"${price / 100:,.2f}"
    for name, viewport in (("studio-replay-stats-laptop", LAPTOP), ("studio-replay-stats", PHONE)):
        page = await zoned_page(
            browser, name, site.studio, session=site.session(demo.CREATOR), viewport=viewport
        )
        sales = page.locator("#replay-sales")
        await expect(sales.locator("#replay-summary")).to_have_text(
            f"From the replay: 1 order, US{dollars}"  # en-GB writes dollars "US$"
        )
        await expect(sales.locator("#replay-products li")).to_have_text(
            [f"{title}1 order · 1 unit · US{dollars}"]
        )
        await expect(page.locator("#stat-orders")).to_have_text("0")  # the live's own
        if viewport == PHONE:
            await fits_a_phone(page, "#stats-panel")
        await page.locator("#stats-panel").scroll_into_view_if_needed()
        await browser.screenshot(page, name)
    browser.assert_no_console_errors()
