"""The ``livecart`` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.slow


def livecart(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_create_user_makes_staff_who_can_sign_in(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url}
    result = livecart(
        "create-user", "sam", "--role", "staff", "--password", "warehouse1", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "staff" in result.stdout

    again = livecart(
        "create-user", "sam", "--role", "admin", "--password", "warehouse1", cwd=tmp_path, env=env
    )
    assert again.returncode == 1
    assert "taken" in again.stderr

    settings = Settings(database_url=database_url, secret_key="k", env="test")
    with TestClient(create_app(settings)) as client:
        resp = client.post("/api/auth/login", json={"username": "sam", "password": "warehouse1"})
        assert resp.status_code == 200
        assert resp.json()["user"]["role"] == "staff"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-user", "Bad Name", "--role", "staff", "--password", "longenough"], "name"),
        (["create-user", "sam", "--role", "staff", "--password", "short"], "password"),
        (["create-user", "sam", "--role", "emperor", "--password", "longenough"], "role"),
    ],
)
def test_create_user_refuses_bad_arguments(args: list[str], message: str, tmp_path: Path) -> None:
    result = livecart(*args, cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert message in result.stderr


def test_production_without_secret_key_refuses_to_serve(tmp_path: Path) -> None:
    env = {"LIVECART_ENV": "production", "SECRET_KEY": ""}
    result = livecart("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "livecart.db").exists()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``livecart serve`` on embedded defaults in an empty folder, as a newcomer runs it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _call(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_runs_on_embedded_defaults(served: str, tmp_path: Path) -> None:
    assert _call(f"{served}/healthz") == (200, {"status": "ok"})
    status, ready = _call(f"{served}/readyz")
    assert status == 200 and ready["checks"] == {"database": "ok"}
    status, body = _call(
        f"{served}/api/auth/register",
        {"username": "newcomer", "password": "password123", "role": "creator"},
    )
    assert status == 201 and body["user"] == {"id": 1, "username": "newcomer", "role": "creator"}
    assert (tmp_path / "livecart.db").exists()
