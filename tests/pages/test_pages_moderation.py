"""Moderation on the pages (issue 14, deliverable 4), in a phone-sized Chromium (390×844):

- the studio's Moderation panel, for a moderator and the creator: mute by username for a
  chosen time, the muted list with its end and Unmute, ban and the banned list with Unban,
  the blocked words (shown and replaced), the server's own words on a refusal, and no
  horizontal overflow or small tap targets;
- the viewer page of a moderator: Delete and Mute on other people's messages; a deleted
  message leaves the moderator a "message deleted" line with its author and a Mute button
  (plain viewers just see it go), so the spammer can still be muted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
    fits_a_phone,
    register,
    require_browser,
)

pytestmark = pytest.mark.browser

# Chromium reports every 4xx answer on the console; these tests provoke some on purpose.
REFUSED = re.compile(r"status of (404|422) ")
SPAMMER = "spam_sam"


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


async def api_get(site: Site, tail: str, who: str = demo.CREATOR) -> Any:
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/lives/{site.shop.live_id}{tail}", headers=site.auth(who))
        assert resp.status_code == 200, resp.text
        return resp.json()


async def element_shot(browser: Browser, part: Any, name: str) -> None:
    """A screenshot of one part of a page, without the toasts that would cover it."""
    toggle = "(on) => document.querySelector('.toasts')?.toggleAttribute('hidden', on)"
    browser.shots.mkdir(parents=True, exist_ok=True)
    await part.page.evaluate(toggle, True)
    await part.screenshot(path=str(browser.shots / f"{name}.png"), animations="disabled")
    await part.page.evaluate(toggle, False)


async def test_studio_moderation_panel_on_a_phone(site: Site, browser: Browser) -> None:
    mod = await browser.page("studio-mod", site.studio, session=site.session(demo.MODERATOR))
    mod.livecart_log.allowed.append(REFUSED)
    panel = mod.locator("#moderation-panel")
    muted, banned = panel.locator("#muted"), panel.locator("#banned")
    await expect(muted).to_have_text("Nobody is muted.")
    await expect(banned).to_have_text("Nobody is banned.")
    await expect(panel.locator("#words-status")).to_have_text("No blocked words.")
    await fits_a_phone(mod, "#moderation-panel")
    username = panel.get_by_label("Username")

    # Mute for an hour, typed as a phone keyboard would ("@" and a capital): listed with its end.
    await username.fill("@Demo_viewer")
    await panel.get_by_label("Mute for").select_option(label="1 hour")
    await panel.get_by_role("button", name="Mute", exact=True).click()
    await expect(mod.locator(".toast", has_text="demo_viewer is muted for 1 hour")).to_be_visible()
    line = muted.locator("li", has_text=demo.VIEWER)
    await expect(line).to_contain_text("until ")
    await expect(username).to_have_value("")
    (mute,) = (await api_get(site, "/mutes"))["mutes"]
    assert mute["user"]["username"] == demo.VIEWER
    left = datetime.fromisoformat(mute["until"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert 3500 < left.total_seconds() <= 3600, mute
    assert await line.locator("time").get_attribute("datetime") == mute["until"]
    await fits_a_phone(mod, "#moderation-panel")
    await browser.screenshot(mod, "studio-moderation-muted-phone")
    await element_shot(browser, panel, "moderation-panel-phone")

    # The creator's studio lists the moderator's mute too.
    host = await browser.page(
        "studio-host", site.studio, session=site.session(demo.CREATOR), viewport=DESKTOP
    )
    await expect(host.locator("#muted li", has_text=demo.VIEWER)).to_contain_text("until ")

    # The server's refusals, in its words: an unknown user, the live's creator.
    refusals = [
        ("nobody_here", "no user with that username"),
        (demo.CREATOR, "the live's creator cannot be muted or banned"),
    ]
    for name, message in refusals:
        await username.fill(name)
        await panel.get_by_role("button", name="Mute", exact=True).click()
        await expect(panel.locator("#moderate-form .form-error")).to_have_text(message)
    await expect(muted.locator("li")).to_have_count(1)

    await panel.get_by_role("button", name=f"Unmute {demo.VIEWER}").click()
    await expect(muted).to_have_text("Nobody is muted.")
    assert (await api_get(site, "/mutes"))["mutes"] == []

    # Ban and unban.
    await username.fill(demo.VIEWER)
    await panel.get_by_role("button", name="Ban", exact=True).click()
    await expect(banned.locator("li", has_text=demo.VIEWER)).to_contain_text("since ")
    await expect(panel.locator("#moderate-form .form-error")).to_be_hidden()
    bans = (await api_get(site, "/bans", demo.MODERATOR))["bans"]
    assert [b["user"]["username"] for b in bans] == [demo.VIEWER]
    await browser.screenshot(mod, "studio-moderation-banned-phone")
    await panel.get_by_role("button", name=f"Unban {demo.VIEWER}").click()
    await expect(banned).to_have_text("Nobody is banned.")
    assert (await api_get(site, "/bans"))["bans"] == []

    # Blocked words: replaced as typed, shown back as the server keeps them.
    words = panel.get_by_label("Words, one per line")
    await words.fill("Spoiler\nscam, Scam\n")
    await panel.get_by_role("button", name="Save blocked words").click()
    await expect(panel.locator("#words-status")).to_have_text("2 blocked words.")
    await expect(words).to_have_value("scam\nspoiler")
    assert (await api_get(site, "/blocked-words"))["blocked_words"] == ["scam", "spoiler"]
    # A word over 64 characters: refused with the server's message, nothing changed.
    async with http_client(site.url) as http:
        resp = await http.put(
            f"/api/lives/{site.shop.live_id}/blocked-words",
            json={"words": ["x" * 65]},
            headers=site.auth(demo.CREATOR),
        )
    assert resp.status_code == 422, resp.text
    await words.fill("x" * 65)
    await panel.get_by_role("button", name="Save blocked words").click()
    await expect(panel.locator("#words-form .form-error")).to_contain_text(
        resp.json()["error"]["message"]
    )
    assert (await api_get(site, "/blocked-words"))["blocked_words"] == ["scam", "spoiler"]
    await fits_a_phone(mod, "#moderation-panel")
    assert await accessibility_problems(mod) == []
    await browser.screenshot(mod, "studio-moderation-words-phone")
    browser.assert_no_console_errors()


async def test_a_moderator_on_the_viewer_page_deletes_then_still_mutes_the_author(
    site: Site, browser: Browser
) -> None:
    spammer = await browser.page(
        "spammer", site.live, session=await register(site, SPAMMER, profile=False)
    )
    mod = await browser.page("moderator", site.live, session=site.session(demo.MODERATOR))
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    host = await browser.page("host", site.live, session=site.session(demo.CREATOR))
    for page in (spammer, mod, viewer, host):
        await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")

    await spammer.get_by_label("Message", exact=True).fill("cheap followers at spam.example")
    await spammer.get_by_role("button", name="Send").click()
    for page in (mod, viewer, host):
        line = page.locator(".chat-log .chat-msg", has_text="cheap followers")
        await expect(line.locator(".chat-user")).to_have_text(SPAMMER)
    # The moderator and the host get the tools; a viewer and the author do not.
    for page in (mod, host):
        await expect(
            page.get_by_role("button", name=f"Delete message from {SPAMMER}")
        ).to_be_visible()
    for page in (viewer, spammer):
        await expect(page.locator(".chat-log .chat-msg")).to_have_count(1)
        assert await page.locator(".chat-log button").count() == 0
    await fits_a_phone(mod, ".chat-log")
    await browser.screenshot(mod, "viewer-moderator-chat-phone")

    await mod.get_by_role("button", name=f"Delete message from {SPAMMER}").click()
    # Gone for everyone; the moderators keep a line saying so, with its author and Mute.
    for page in (viewer, spammer, mod, host):
        await expect(page.locator(".chat-log .chat-msg")).to_have_count(0)
    for page in (viewer, spammer):
        assert await page.locator(".chat-log li").count() == 0
    gone = mod.locator(".chat-log .chat-gone")
    await expect(gone).to_have_count(1)
    await expect(gone.locator(".chat-user")).to_have_text(SPAMMER)
    await expect(gone.locator(".chat-text")).to_have_text("message deleted")
    await expect(host.locator(".chat-log .chat-gone")).to_have_count(1)
    assert await gone.get_by_role("button", name=f"Delete message from {SPAMMER}").count() == 0
    await browser.screenshot(mod, "viewer-moderator-deleted-phone")
    await element_shot(browser, mod.locator("#chat"), "viewer-moderator-deleted-chat")

    await gone.get_by_role("button", name=f"Mute {SPAMMER}").click()
    await expect(
        mod.locator(".toast", has_text=f"{SPAMMER} is muted for 5 minutes")
    ).to_be_visible()
    mutes = (await api_get(site, "/mutes", demo.MODERATOR))["mutes"]
    assert [m["user"]["username"] for m in mutes] == [SPAMMER]
    await spammer.get_by_label("Message", exact=True).fill("hello?")
    await spammer.get_by_role("button", name="Send").click()
    await expect(spammer.locator(".chat-note")).to_contain_text("You are muted")
    await fits_a_phone(mod, ".chat-log")
    for page in (mod, viewer):
        assert await accessibility_problems(page) == []
    browser.assert_no_console_errors()


async def test_a_moderator_s_refused_mute_shows_the_server_s_reason(
    site: Site, browser: Browser
) -> None:
    """Moderators cannot mute each other: the chat's Mute says why, in the server's words."""
    other = await register(site, "other_mod", profile=False)
    async with http_client(site.url) as http:
        resp = await http.put(
            f"/api/lives/{site.shop.live_id}/moderators/other_mod", headers=site.auth(demo.CREATOR)
        )
        assert resp.status_code == 200, resp.text
    speaker = await browser.page("other-mod", site.live, session=other)
    mod = await browser.page("moderator", site.live, session=site.session(demo.MODERATOR))
    mod.livecart_log.allowed.append(re.compile(r"status of 403 "))
    await expect(speaker.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await speaker.get_by_label("Message", exact=True).fill("moderator here")
    await speaker.get_by_role("button", name="Send").click()
    await mod.get_by_role("button", name="Mute other_mod for 5 minutes").click()
    await expect(
        mod.locator(".toast", has_text="only the creator can mute or ban a moderator")
    ).to_be_visible()
    assert (await api_get(site, "/mutes"))["mutes"] == []
    browser.assert_no_console_errors()


RESOURCES = """() => performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/")).map((e) => [e.name, e.responseStatus])"""


async def test_a_plain_viewer_s_page_asks_who_moderates_without_a_403(
    site: Site, browser: Browser
) -> None:
    """The viewer page learns whether to offer the tools from a route that answers everyone
    signed in with 200, so a viewer's page logs no refused request, and offers none."""
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    await viewer.wait_for_function(
        f"() => ({RESOURCES})().some(([url]) => url.endsWith('/can-moderate'))"
    )
    asked = await viewer.evaluate(RESOURCES)
    assert [status for url, status in asked if url.endswith("/can-moderate")] == [200], asked
    assert all(status == 200 for _url, status in asked), asked
    await viewer.get_by_label("Message", exact=True).fill("just watching")
    await viewer.get_by_role("button", name="Send").click()
    await expect(viewer.locator(".chat-log .chat-msg")).to_have_count(1)
    assert await viewer.locator(".chat-log button").count() == 0
    browser.assert_no_console_errors()
