"""Security headers (issue #11, finding 7): nosniff and a Referrer-Policy on every answer,
a strict Content-Security-Policy on pages, no ``server`` header; and in a real Chromium
the pages work under that policy while another origin cannot frame them."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from app import demo
from app.settings import Settings
from tests.app.test_connections import copied_settings, plain_uvicorn
from tests.http_helpers import http_client
from tests.live_server import ServerProcess, process_env, serve
from tests.pages_helpers import DESKTOP, SCREENSHOTS, Browser, Site, open_browser, require_browser

REFERRER_POLICY = "strict-origin-when-cross-origin"


def directives(policy: str) -> dict[str, str]:
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


async def test_pages_get_the_policy_and_every_answer_nosniff(settings: Settings) -> None:
    async with serve(settings) as server, http_client(server.url) as http:
        for path in ("/", "/live/1", "/studio/1", "/fulfillment"):
            resp = await http.get(path)
            assert resp.status_code == 200, path
            policy = directives(resp.headers["content-security-policy"])
            assert policy["script-src"] == "'self'"  # no inline script, no eval
            assert policy["frame-ancestors"] == "'self'"
            assert policy["object-src"] == "'none'"
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["referrer-policy"] == REFERRER_POLICY
        for path, status in [
            ("/healthz", 200),
            ("/api/lives", 200),
            ("/static/js/api.js", 200),
            ("/api/nothing-here", 404),
            ("/live/0", 404),
        ]:
            resp = await http.get(path)
            assert resp.status_code == status, path
            assert resp.headers["x-content-type-options"] == "nosniff", path
            assert resp.headers["referrer-policy"] == REFERRER_POLICY, path
            if not resp.headers["content-type"].startswith("text/html"):
                assert "content-security-policy" not in resp.headers, path
            assert "server" not in resp.headers, path


@pytest.mark.slow
def test_no_server_header_under_livecart_serve_or_plain_uvicorn(
    sqlite_template: Path, tmp_path: Path
) -> None:
    env = process_env(copied_settings(sqlite_template, tmp_path))
    served = ServerProcess(env, tmp_path)
    served.start()
    try:
        answer = httpx.get(served.url + "/healthz")
        assert answer.status_code == 200 and "server" not in answer.headers, answer.headers
    finally:
        served.stop()
    with plain_uvicorn(env, tmp_path) as port:
        for path in ("/healthz", "/"):
            answer = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert answer.status_code == 200 and "server" not in answer.headers, answer.headers
            assert answer.headers["x-content-type-options"] == "nosniff"


# ---- in Chromium

# Every CSP violation of a page, as the browser reports it to the page itself.
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""
# The page's own origin over a WebSocket: allowed by connect-src 'self'.
SOCKET_OPENS = """(path) => new Promise((resolve, reject) => {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.onmessage = (e) => { resolve(JSON.parse(e.data).type); ws.close(); };
  ws.onerror = () => reject(new Error("socket failed"));
})"""


async def open_watched(browser: Browser, name: str, path: str, who: str | None, site: Site) -> Any:
    """The page signed in as ``who``, reloaded with a listener for CSP violations in place
    before its first script (they also reach the console, which ``Browser`` checks)."""
    session = site.session(who) if who else None
    page = await browser.page(name, path, session=session, viewport=DESKTOP)
    await page.context.add_init_script(VIOLATIONS)
    await page.reload()
    return page


@pytest.mark.browser
async def test_the_pages_work_under_the_policy(site: Site) -> None:
    require_browser()
    live_id = site.shop.live_id
    async with open_browser(site.url, SCREENSHOTS / "csp") as browser:
        index = await open_watched(browser, "index", "/", None, site)
        await expect(index.locator("#lives .live-card")).to_have_count(1)
        live = await open_watched(browser, "live", f"/live/{live_id}", demo.VIEWER, site)
        await expect(live.locator("#card .card-title")).to_have_text("Blue stoneware mug")
        # The page's own origin over ws: is allowed by connect-src 'self'.
        assert await live.evaluate(SOCKET_OPENS, f"/ws/lives/{live_id}") == "snapshot"
        studio = await open_watched(browser, "studio", f"/studio/{live_id}", demo.CREATOR, site)
        await expect(studio.locator("#products .product-row")).to_have_count(5)
        await expect(studio.locator("#sales-chart")).to_be_visible()
        board = await open_watched(browser, "fulfillment", "/fulfillment", demo.STAFF, site)
        await expect(board.locator("#stage-nav .stage")).to_have_count(9)
        for page in (index, live, studio, board):
            assert await page.evaluate("window.__violations") == [], page.url
        # The figure that had an inline style keeps its layout from the stylesheet.
        margin = await studio.locator("figure.flush").evaluate("e => getComputedStyle(e).margin")
        assert margin == "0px"
        browser.assert_no_console_errors()


@contextlib.contextmanager
def other_origin(target: str) -> Iterator[str]:
    """A real HTTP server on another port (another origin) with a page framing ``target``."""
    body = f'<!doctype html><title>framer</title><iframe src="{target}"></iframe>'.encode()

    class Framer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Framer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.browser
async def test_another_origin_cannot_frame_the_live_page(site: Site) -> None:
    require_browser()
    target = f"{site.url}/live/{site.shop.live_id}"
    async with open_browser(site.url, SCREENSHOTS / "csp") as browser:
        with other_origin(target) as framer_url:
            refused = await browser.page("framer", framer_url)
            refused.livecart_log.allowed.append(re.compile("frame-ancestors"))
            frame = refused.frame_locator("iframe")
            await expect(refused.locator("iframe")).to_be_attached()
            await expect(frame.locator("#card")).to_have_count(0)
            assert any("frame-ancestors" in e for e in refused.livecart_log.errors)
        # Control: the same page framed by its own origin loads ('self' is allowed).
        same = await browser.page("same-origin", "/")
        await same.set_content(f'<iframe src="{target}"></iframe>')
        card = same.frame_locator("iframe").locator("#card .card-title")
        await expect(card).to_have_text("Blue stoneware mug")


def expect(target: Any) -> Any:
    from playwright.async_api import expect as pw_expect

    return pw_expect(target)


async def test_media_is_served_from_its_directory_and_its_origins_may_be_fetched(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "show").mkdir()
    (tmp_path / "show" / "index.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "show" / "seg0.ts").write_bytes(b"\x47" * 188)
    (tmp_path / "show.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    media = replace(settings, media_dir=str(tmp_path), media_origins=("https://cdn.example",))
    async with serve(media) as server, http_client(server.url) as http:
        paths = ("/media/show/index.m3u8", "/media/show/seg0.ts", "/media/show.mp4")
        types = {path: (await http.get(path)).headers["content-type"] for path in paths}
        assert types == {"/media/show/index.m3u8": "application/vnd.apple.mpegurl",
                         "/media/show/seg0.ts": "video/mp2t",
                         "/media/show.mp4": "video/mp4"}  # fmt: skip
        assert (await http.get("/media/../pyproject.toml")).status_code == 404
        policy = directives((await http.get("/live/1")).headers["content-security-policy"])
        assert policy["connect-src"] == "'self' https://cdn.example"
        assert policy["media-src"] == "'self' https: blob: https://cdn.example"
    async with serve(settings) as server, http_client(server.url) as http:
        assert (await http.get("/media/show.mp4")).status_code == 404  # no directory: none
