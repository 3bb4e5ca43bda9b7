"""Production refuses to run on test settings; a real payment provider plugs in by name.

The commands run as real processes, as an operator starts them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.payments import payment_provider
from app.settings import ConfigError, Settings
from checkout.payments import TestPaymentProvider
from tests.http_helpers import Api
from tests.services import free_port, wait_for_port

STRONG_KEY = "k" * 48
SHIPPING = {"name": "Ada", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001",
            "country": "FR"}  # fmt: skip


class RecordingProvider(TestPaymentProvider):
    """A stand-in for a real provider, named by ``LIVECART_PAYMENTS`` in these tests: what
    it is asked to authorize goes to one list (the app builds its own instance)."""

    asked: ClassVar[list[str]] = []

    async def authorize(self, amount_cents: int, currency: str, reference: str) -> str:
        self.asked.append(f"{amount_cents} {currency}")
        return await super().authorize(amount_cents, currency, reference)


class NotAProvider:
    def authorize(self) -> None: ...


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVECART_", "SECRET_"))}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd, capture_output=True, text=True, env={**base, **env}, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": STRONG_KEY}, "LIVECART_PAYMENTS"),
        ({"SECRET_KEY": "a", "LIVECART_PAYMENTS": "test"}, "32 characters"),
        ({"SECRET_KEY": "livecart-insecure-development-key", "LIVECART_PAYMENTS": "test"},
         "development key"),
        ({"SECRET_KEY": STRONG_KEY, "LIVECART_PAYMENTS": "no.such.module:Provider"},
         "no.such.module"),
        ({"SECRET_KEY": STRONG_KEY,
          "LIVECART_PAYMENTS": "tests.app.test_production_guards:NotAProvider"}, "capture"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_production_refuses_to_serve_on_unsafe_settings(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**env, "LIVECART_ENV": "production", "PYTHONPATH": str(root)}
    result = run("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "livecart.db").exists()  # refused before touching anything


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["prod", "Production"])
def test_a_misspelt_environment_does_not_run_as_development(mode: str, tmp_path: Path) -> None:
    result = run("serve", "--port", str(free_port()), cwd=tmp_path, env={"LIVECART_ENV": mode})
    assert result.returncode == 2
    assert "LIVECART_ENV" in result.stderr


@pytest.mark.slow
def test_production_on_test_payments_when_asked_says_so_loudly(tmp_path: Path) -> None:
    port = free_port()
    env = {"LIVECART_ENV": "production", "SECRET_KEY": STRONG_KEY, "LIVECART_PAYMENTS": "test"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIVECART_", "SECRET_"))}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=tmp_path, env={**base, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(port, timeout=60)
        finally:
            proc.terminate()
            proc.wait(30)
    assert "NO MONEY MOVES" in log.read_text()


def test_a_provider_named_in_settings_takes_the_orders(settings: Settings) -> None:
    RecordingProvider.asked.clear()
    named = replace(settings, payments="tests.app.test_production_guards:RecordingProvider")
    with TestClient(create_app(named)) as client:
        api = Api(client)
        creator = api.register("maker", "creator")
        product = api.product(creator, price_cents=2500)
        buyer = api.register("buyer")
        resp = client.post(
            "/api/orders",
            json={"product_id": product["id"], "quantity": 2, "shipping": SHIPPING},
            headers={**api.auth(buyer), "Idempotency-Key": "one"},
        )
        assert resp.status_code == 201, resp.text
    assert RecordingProvider.asked == ["5000 USD"]


def test_a_provider_that_does_not_fit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="authorize"):
        payment_provider(Settings(payments="tests.app.test_production_guards:NotAProvider"))
    with pytest.raises(ConfigError, match="nope"):
        payment_provider(Settings(payments="tests.app.test_production_guards:nope"))
