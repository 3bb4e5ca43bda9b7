from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
from websockets.asyncio.client import connect

from tests.live_server import LiveServer


async def test_pin_reaches_viewer_over_uvicorn(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        reg = await http.post(
            "/api/auth/register",
            json={"username": "cara", "password": "password123", "role": "creator"},
        )
        token = reg.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        product = (
            await http.post(
                "/api/products", headers=auth, json={"title": "Mug", "price_cents": 900, "stock": 3}
            )
        ).json()
        live = (await http.post("/api/lives", headers=auth, json={"title": "Show"})).json()["live"]
        async with connect(server.ws_url(live["id"])) as ws:
            snapshot: dict[str, Any] = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert snapshot["data"]["seq"] == 0
            assert (
                await http.post(f"/api/lives/{live['id']}/start", headers=auth)
            ).status_code == 200
            resp = await http.post(
                f"/api/lives/{live['id']}/pin",
                headers=auth,
                json={"product_id": product["product"]["id"]},
            )
            assert resp.status_code == 200
            frames = [json.loads(await ws.recv()) for _ in range(2)]
            frames = [f for f in frames if f["seq"] is not None]
            assert [f["type"] for f in frames][:1] == ["live_started"]
