"""`livecart demo`: seeds a demo shop (idempotently), prints URLs and logins, serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from app import demo
from app.cli import main
from app.settings import Settings
from tests.http_helpers import http_client
from tests.live_server import serve
from tests.services import free_port


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "livecart.db"
    shutil.copy(sqlite_template, path)
    return Settings(database_url=f"sqlite+aiosqlite:///{path}", secret_key="s", env="test")


async def test_seeding_twice_reuses_everything(sqlite_settings: Settings) -> None:
    first = await demo.seed_database(sqlite_settings)
    second = await demo.seed_database(sqlite_settings)
    assert second == first
    assert set(first.users) == {demo.CREATOR, demo.MODERATOR, demo.STAFF, demo.VIEWER, demo.BUYER}
    assert len(first.product_ids) == len(demo.PRODUCTS)

    async with serve(sqlite_settings) as server, http_client(server.url) as http:
        live = (await http.get(f"/api/lives/{first.live_id}")).json()["live"]
        assert live["status"] == "live"
        assert live["pinned"]["product"]["title"] == demo.PRODUCTS[0][0]
        for username, _role in demo.ACCOUNTS:
            login = await http.post(
                "/api/auth/login", json={"username": username, "password": demo.PASSWORD}
            )
            assert login.status_code == 200, username
        token = login.json()["token"]
        mods = await http.get(
            f"/api/lives/{first.live_id}/moderators",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert mods.status_code == 403  # the buyer is no moderator ...
        me = (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["user"]["username"] == demo.BUYER
        assert me["address"]["city"] and me["payment_method"]["last4"] == "4242"  # one tap
        creator = await http.post(
            "/api/auth/login", json={"username": demo.CREATOR, "password": demo.PASSWORD}
        )
        mods = await http.get(
            f"/api/lives/{first.live_id}/moderators",
            headers={"Authorization": f"Bearer {creator.json()['token']}"},
        )
        assert [m["username"] for m in mods.json()["moderators"]] == [demo.MODERATOR]
        # Every product image ships with the app: no network needed.
        for product_id in first.product_ids:
            product = (await http.get(f"/api/products/{product_id}")).json()["product"]
            image = await http.get(product["image_url"])
            assert image.status_code == 200
            assert image.headers["content-type"].startswith("image/svg+xml")


def _run_demo(env: dict[str, str], cwd: Path, port: int) -> tuple[list[str], str]:
    """Start `livecart demo`, read its banner, fetch the pages it names, stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        urls: list[str] = []
        while time.monotonic() < deadline:
            text = "".join(lines)
            if "Fulfillment board" in text:
                urls = re.findall(r"http://\S+", text)
                break
            time.sleep(0.1)
        assert urls, "".join(lines)
        while time.monotonic() < deadline:  # the banner comes before the server listens
            try:
                if httpx.get(urls[0]).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for url in urls:
            assert httpx.get(url).status_code == 200, url
        return urls, "".join(lines)
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.slow
def test_demo_command_prints_urls_and_logins_and_serves(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PORT"}}
    env.update(DATABASE_URL=sqlite_settings.database_url, SECRET_KEY="demo-test")
    port = free_port()
    urls, text = _run_demo(env, tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    assert urls[0] == f"{base}/"
    assert f"{base}/fulfillment" in urls
    assert any(u.startswith(f"{base}/live/") for u in urls)
    assert any(u.startswith(f"{base}/studio/") for u in urls)
    for username in (demo.CREATOR, demo.MODERATOR, demo.STAFF, demo.VIEWER, demo.BUYER,
                     demo.PASSWORD):  # fmt: skip
        assert username in text

    again, _ = _run_demo(env, tmp_path, port)
    assert again == urls  # the same live: nothing seeded twice


def test_demo_with_workers_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["demo", "--workers", "2"]) == 2
