"""Liveness and readiness, with and without Redis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from tests.live_server import LiveServer
from tests.services import free_port


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_the_database(client: TestClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_checks_redis_when_configured(settings: Settings, redis_url: str) -> None:
    with TestClient(create_app(replace(settings, redis_url=redis_url))) as client:
        resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_unreachable_redis(settings: Settings) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(create_app(replace(settings, redis_url=dead))) as client:
        resp = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_postgres_connections_are_opened_at_start(server: LiveServer) -> None:
    db = server.state.db
    if db.dialect != "postgresql":
        pytest.skip("SQLite opens its file on demand; nothing to warm")
    pool: Any = db.engine.pool
    assert pool.checkedin() + pool.checkedout() >= 4  # opened by the lifespan already
