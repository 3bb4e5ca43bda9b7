"""The viewer page when the server is overloaded: close code 1013 ("try again later").

An overloaded livecart process accepts the WebSocket handshake and closes the
socket at once with 1013. The page must keep retrying, with jittered
exponential back-off (``backoffDelay`` in static/js/socket.js), say it is busy
rather than broken, and end up live, resuming with ``after=lastSeq``.

Nothing is mocked in the browser: a real Chromium talks to a small TCP proxy in
front of a real livecart server. While the proxy is "busy" it completes
WebSocket handshakes itself and sends a real 1013 close frame, as the server
does; otherwise it passes every byte through to livecart. It also notes when
each handshake arrives, so the test measures the page's real retry delays.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app import demo
from tests.http_helpers import http_client
from tests.pages_helpers import (
    HEADPHONES,
    PHONE,
    SCREENSHOTS,
    Browser,
    Site,
    expect,
    open_browser,
    require_browser,
)

pytestmark = pytest.mark.browser

BUSY = 1013
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The documented schedules (docs/pages.md): delay uniform in [base/2, min(cap, base * 2^attempt)].
BUSY_BASE_MS, BUSY_CAP_MS = 1000, 30_000
DROP_BASE_MS, DROP_CAP_MS = 500, 10_000
DESKTOP_800 = {"width": 1280, "height": 800}
BUSY_TEXT = "It is very busy right now. We will keep trying to get you in…"
BUSY_TEXT_BACK = "It is very busy right now. We will keep trying to get you back in…"
# A measured gap is the page's delay plus the close frame's trip and a new TCP
# connection: never shorter than the delay, a little longer on a busy machine.
LATE_S = 0.75


def signed_in(offered: list[str]) -> bool:
    """The page's socket offers ``livecart`` and its token as ``livecart.token.<TOKEN>``."""
    return offered[:1] == ["livecart"] and any(p.startswith("livecart.token.") for p in offered)


def busy_bounds_s(attempt: int) -> tuple[float, float]:
    return BUSY_BASE_MS / 2000, min(BUSY_CAP_MS, BUSY_BASE_MS * 2**attempt) / 1000


class BusyProxy:
    """A TCP proxy in front of livecart that, while ``busy``, closes new sockets with 1013."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.busy = False
        self.handshakes: list[tuple[float, str]] = []  # (monotonic time, path) of each /ws/ one
        self.offered: list[list[str]] = []  # the subprotocols each /ws/ handshake offered
        self.refusals: list[float] = []  # when each 1013 close frame went out
        self.changed = asyncio.Condition()
        self.clients: set[asyncio.StreamWriter] = set()  # piped connections from the browser
        self.tasks: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def drop_all(self) -> None:
        """Cut every piped connection (the page sees its socket die: 1006)."""
        for writer in list(self.clients):
            writer.transport.abort()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(30), self.changed:
            await self.changed.wait_for(predicate)

    async def _note(self, record: Callable[[], None]) -> None:
        async with self.changed:
            record()
            self.changed.notify_all()

    def gaps_after_refusals(self) -> list[float]:
        """Seconds from each 1013 to the next handshake (the page's retry delay, measured)."""
        times = [t for t, _ in self.handshakes]
        return [min(t for t in times if t > r) - r for r in self.refusals if times[-1] > r]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            if path.startswith("/ws/"):
                refuse = self.busy  # decided on arrival, before anything can flip it
                now = time.monotonic()
                headers = dict(line.split(":", 1) for line in lines if ":" in line)
                keys = {k.strip().lower(): v.strip() for k, v in headers.items()}
                offered = [p.strip() for p in keys.get("sec-websocket-protocol", "").split(",")]

                def noted() -> None:  # both lists in one step: their indices match
                    self.handshakes.append((now, path))
                    self.offered.append([p for p in offered if p])

                await self._note(noted)
                if refuse:
                    await self._refuse(reader, writer, keys["sec-websocket-key"])
                    return
            await self._pipe(head, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
            self.tasks.discard(task)

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str
    ) -> None:
        """Accept the handshake, then close with 1013 — what an overloaded server does."""
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        # As the server: pick "livecart", offered by the page (which fails a socket whose
        # offered subprotocols were all ignored).
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: livecart\r\n\r\n".encode()
        )
        reason = b"try again later"
        writer.write(bytes([0x88, 2 + len(reason)]) + struct.pack("!H", BUSY) + reason)
        await writer.drain()
        now = time.monotonic()
        await self._note(lambda: self.refusals.append(now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.read(64), 5)  # the browser's answering close frame

    async def _pipe(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(head)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.transport.abort()

        self.clients.add(writer)
        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self.clients.discard(writer)


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    require_browser()


@pytest.fixture
async def proxy(site: Site) -> AsyncIterator[BusyProxy]:
    busy = BusyProxy(int(site.url.rsplit(":", 1)[1]))
    await busy.start()
    try:
        yield busy
    finally:
        await busy.close()


@pytest.fixture
async def browser(proxy: BusyProxy, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """Chromium pointed at the proxy: pages and sockets all go through it."""
    async with open_browser(proxy.url, SCREENSHOTS / request.node.name) as opened:
        yield opened


def assert_busy_gaps(gaps: list[float], first_attempt: int) -> None:
    for i, gap in enumerate(gaps):
        low, high = busy_bounds_s(first_attempt + i)
        assert low <= gap <= high + LATE_S, (first_attempt + i, gaps)
    assert len(set(gaps)) == len(gaps), gaps


async def test_backoff_delay_is_full_jitter_within_the_documented_bounds(
    site: Site, proxy: BusyProxy, browser: Browser
) -> None:
    page = await browser.page("viewer", site.live)
    await expect(page.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    result = await page.evaluate(
        """async () => {
          const { backoffDelay, BUSY_CODE } = await import("/static/js/socket.js");
          const bounds = (code) => [...Array(9).keys()].map(
            (a) => [backoffDelay(a, code, () => 0), backoffDelay(a, code, () => 1)]);
          const samples = Array.from({ length: 4000 }, () => backoffDelay(3, BUSY_CODE));
          return {
            busyCode: BUSY_CODE,
            busy: bounds(BUSY_CODE),
            drops: [1006, 1011, 1012, 4408].map(bounds),
            samples,
          };
        }"""
    )
    assert result["busyCode"] == BUSY
    ceilings = [min(BUSY_CAP_MS, BUSY_BASE_MS * 2**a) for a in range(9)]
    assert result["busy"] == [[BUSY_BASE_MS // 2, c] for c in ceilings]
    assert ceilings[:6] == [1000, 2000, 4000, 8000, 16000, 30000]
    # Ordinary drops keep the old schedule as the ceilings: 0.5, 1, 2, 4, 8, 10 s.
    drop_ceilings = [min(DROP_CAP_MS, DROP_BASE_MS * 2**a) for a in range(9)]
    assert drop_ceilings[:6] == [500, 1000, 2000, 4000, 8000, 10000]
    for bounds in result["drops"]:
        assert bounds == [[DROP_BASE_MS // 2, c] for c in drop_ceilings]

    # With the real Math.random: spread over the whole range, not clustered.
    samples = result["samples"]
    low, high = BUSY_BASE_MS // 2, 8000
    assert all(low <= s <= high for s in samples)
    assert len(set(samples)) > 2000
    assert min(samples) < low + 200 and max(samples) > high - 200
    assert abs(sum(samples) / len(samples) - (low + high) / 2) < 250
    in_each_tenth = [0] * 10
    for s in samples:
        in_each_tenth[min(9, (s - low) * 10 // (high - low))] += 1
    assert min(in_each_tenth) > 250, in_each_tenth  # 400 expected in each
    browser.assert_no_console_errors()


async def test_viewer_joining_a_busy_live_retries_with_jitter_and_gets_in(
    site: Site, proxy: BusyProxy, browser: Browser
) -> None:
    proxy.busy = True
    viewer = await browser.page("viewer-busy", site.live, session=site.session(demo.VIEWER))
    banner = viewer.locator("#banner")
    await expect(banner).to_have_text(BUSY_TEXT)
    await expect(banner).to_have_attribute("data-state", "busy")
    await expect(viewer.locator("#live-title")).to_have_text("Loading…")
    await browser.screenshot(viewer, "viewer-busy-phone")
    await viewer.set_viewport_size(DESKTOP_800)
    await browser.screenshot(viewer, "viewer-busy-desktop")
    await viewer.set_viewport_size(PHONE)

    # Two 1013s and the retries after them: the page keeps trying, at jittered delays.
    await proxy.wait_until(lambda: len(proxy.handshakes) >= 3)
    await expect(banner).to_have_text(BUSY_TEXT)
    proxy.busy = False

    await expect(banner).to_be_hidden(timeout=40_000)
    await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    await expect(viewer.locator("#live-title")).to_have_text("Friday night finds")
    await expect(viewer.locator("#viewers")).to_have_text(re.compile(r"[1-9]\d* watching"))
    refused = len(proxy.refusals)
    assert refused >= 3 and len(proxy.handshakes) == refused + 1, proxy.handshakes
    # Never had a snapshot, so nothing to resume from; the token is kept (1013 is not 4401),
    # offered as a subprotocol (never in the URL).
    last = proxy.handshakes[-1][1]
    assert "after=" not in last and "token=" not in last, last
    assert signed_in(proxy.offered[-1]), proxy.offered[-1]
    assert_busy_gaps(proxy.gaps_after_refusals(), first_attempt=0)

    # And it is really live: a pin shows without reload.
    async with http_client(site.url) as http:
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin",
            json={"product_id": site.shop.product_ids[2]},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text
    await expect(viewer.locator("#card .card-title")).to_have_text(HEADPHONES)
    await browser.screenshot(viewer, "viewer-in")
    browser.assert_no_console_errors()


async def test_viewer_resumes_with_after_through_busy_refusals(
    site: Site, proxy: BusyProxy, browser: Browser
) -> None:
    viewer = await browser.page("viewer", site.live, session=site.session(demo.VIEWER))
    # The cut socket is reported by the browser itself.
    viewer.livecart_log.allowed.append(re.compile(r"WebSocket connection to .* failed"))
    await expect(viewer.locator("#card .card-title")).to_have_text("Blue stoneware mug")
    banner = viewer.locator("#banner")
    await expect(banner).to_be_hidden()
    async with http_client(site.url) as http:
        resp = await http.get(f"/api/lives/{site.shop.live_id}/events?after=0&limit=1000")
        assert resp.status_code == 200, resp.text
        last_seq = resp.json()["events"][-1]["seq"]

        # The socket dies, and the process it comes back to is overloaded.
        proxy.busy = True
        first_retry = len(proxy.handshakes)
        proxy.drop_all()
        await expect(banner).to_have_text(BUSY_TEXT_BACK, timeout=5000)
        await expect(banner).to_have_attribute("data-state", "busy")
        # Missed while away: must arrive through the resume, not a reload.
        resp = await http.post(
            f"/api/lives/{site.shop.live_id}/pin",
            json={"product_id": site.shop.product_ids[2]},
            headers=site.auth(demo.CREATOR),
        )
        assert resp.status_code == 200, resp.text
    await proxy.wait_until(lambda: len(proxy.refusals) >= 2)
    await browser.screenshot(viewer, "viewer-busy-resuming")
    await proxy.wait_until(lambda: len(proxy.handshakes) >= first_retry + 3)
    proxy.busy = False

    await expect(banner).to_be_hidden(timeout=40_000)
    await expect(viewer.locator("#card .card-title")).to_have_text(HEADPHONES)
    await expect(viewer.locator(".toast", has_text="Back online")).to_be_visible()
    retries = [path for _, path in proxy.handshakes[first_retry:]]
    assert len(retries) == len(proxy.refusals) + 1, retries
    assert all(f"after={last_seq}" in p and "token=" not in p for p in retries), retries
    assert all(signed_in(offer) for offer in proxy.offered[first_retry:]), proxy.offered
    # The drop was attempt 0 (ordinary schedule); the 1013s are attempts 1, 2, ...
    assert_busy_gaps(proxy.gaps_after_refusals(), first_attempt=1)
    browser.assert_no_console_errors()
