from __future__ import annotations

import logging
import re
from dataclasses import fields
from pathlib import Path

import pytest

from app.server import uvicorn_options
from app.settings import DEFAULT_DATABASE_URL, DEVELOPMENT_SECRET_KEY, ConfigError, Settings


def test_defaults_are_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None
    assert settings.port == 8000
    assert settings.token_ttl_s == 7 * 24 * 3600


def test_each_numeric_setting_is_read_and_documented_with_its_default() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    documented = dict(re.findall(r"^\| `([A-Z_]+)` \| `([0-9.,_]+)`", doc, re.M))
    read = [f for f in fields(Settings) if "env" in f.metadata and f.type != "str"]
    assert len(read) == 20
    for f in read:
        variable = f.metadata["env"]
        assert float(documented[variable].replace(",", "")) == f.default, variable
        assert getattr(Settings.from_env({variable: "7"}), f.name) == 7, variable


def test_the_main_warehouse_country_is_read_checked_and_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    assert "| `LIVECART_MAIN_COUNTRY` | `US` |" in doc
    assert Settings.from_env({}).main_country == "US"
    assert Settings.from_env({"LIVECART_MAIN_COUNTRY": "GB"}).main_country == "GB"
    for bad in ("gb", "GBR", "1", "G"):
        with pytest.raises(ConfigError, match="LIVECART_MAIN_COUNTRY"):
            Settings.from_env({"LIVECART_MAIN_COUNTRY": bad})


def test_production_refuses_to_start_without_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"LIVECART_ENV": "production"})


STRONG_KEY = "s3cret-value-" + "x" * 40
PRODUCTION = {"LIVECART_ENV": "production", "SECRET_KEY": STRONG_KEY, "LIVECART_PAYMENTS": "test"}


def test_production_with_secret_key() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.secret_key == STRONG_KEY
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("mode", ["prod", "Production", "PRODUCTION", "dev", "staging", "test"])
def test_unknown_environments_refuse_to_start(mode: str) -> None:
    # "prod" once ran silently as development, on the public key.
    with pytest.raises(ConfigError, match="LIVECART_ENV"):
        Settings.from_env({**PRODUCTION, "LIVECART_ENV": mode})


@pytest.mark.parametrize(
    ("key", "why"), [("a", "32 characters"), ("x" * 31, "32 characters"),
                     (DEVELOPMENT_SECRET_KEY, "development key")],
)  # fmt: skip
def test_production_refuses_weak_keys(key: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        Settings.from_env({**PRODUCTION, "SECRET_KEY": key})
    assert Settings.from_env({**PRODUCTION, "SECRET_KEY": "x" * 32}).secret_key == "x" * 32


def test_production_refuses_the_test_payment_provider_unless_asked() -> None:
    unset = {k: v for k, v in PRODUCTION.items() if k != "LIVECART_PAYMENTS"}
    with pytest.raises(ConfigError, match="LIVECART_PAYMENTS"):
        Settings.from_env(unset)
    assert Settings.from_env(PRODUCTION).payments == "test"
    # Development stays zero-config: test payments without asking.
    assert Settings.from_env({}).payments == "test"
    with pytest.raises(ConfigError, match="LIVECART_PAYMENTS"):
        Settings.from_env({**PRODUCTION, "LIVECART_PAYMENTS": "stripe please"})


def test_throttle_limits_are_settings() -> None:
    defaults = Settings.from_env({})
    assert defaults.login_failures_per_account == 10
    assert (defaults.login_failures_per_address, defaults.registrations_per_address) == (100, 30)
    off = Settings.from_env({"LIVECART_LOGIN_FAILURES_PER_ACCOUNT": "0"})
    assert off.login_failures_per_account == 0
    with pytest.raises(ConfigError, match="LIVECART_REGISTRATIONS_PER_ADDRESS"):
        Settings.from_env({"LIVECART_REGISTRATIONS_PER_ADDRESS": "-1"})


def test_development_key_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="livecart"):
        settings = Settings.from_env({})
    assert settings.secret_key == DEVELOPMENT_SECRET_KEY
    assert any("SECRET_KEY" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_urls_pick_async_drivers(given: str, expected: str) -> None:
    assert Settings.from_env({"DATABASE_URL": given}).database_url == expected


def test_redis_url_and_port() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://localhost:6379/0", "PORT": "9001"})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.port == 9001


def test_bad_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})


@pytest.mark.parametrize(
    ("raw", "expected"), [("", True), ("0", False), ("off", False), ("TRUE", True), ("yes", True)]
)
def test_access_log_flag(raw: str, expected: bool) -> None:
    settings = Settings.from_env({"LIVECART_ACCESS_LOG": raw, "SECRET_KEY": "k"})
    assert settings.access_log is expected
    assert uvicorn_options(settings)["access_log"] is expected


def test_a_bad_access_log_flag_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="LIVECART_ACCESS_LOG"):
        Settings.from_env({"LIVECART_ACCESS_LOG": "maybe", "SECRET_KEY": "k"})


def test_the_access_log_is_off_by_default_in_production_only() -> None:
    assert Settings.from_env({"SECRET_KEY": "k"}).access_log is True
    production = PRODUCTION
    assert Settings.from_env(production).access_log is False
    assert Settings.from_env({**production, "LIVECART_ACCESS_LOG": "1"}).access_log is True


def test_media_settings_are_read_and_checked(tmp_path: Path) -> None:
    assert (Settings.from_env({}).media_dir, Settings.from_env({}).media_origins) == (None, ())
    origins = "https://cdn.example, http://10.0.0.2:8080"
    read = Settings.from_env({"LIVECART_MEDIA_DIR": str(tmp_path),
                              "LIVECART_MEDIA_ORIGINS": origins})  # fmt: skip
    assert read.media_dir == str(tmp_path)
    assert read.media_origins == ("https://cdn.example", "http://10.0.0.2:8080")
    with pytest.raises(ConfigError, match="LIVECART_MEDIA_DIR"):
        Settings.from_env({"LIVECART_MEDIA_DIR": str(tmp_path / "missing")})
    for bad in ("cdn.example", "https://cdn.example/path", "javascript:x", "https://a b"):
        with pytest.raises(ConfigError, match="LIVECART_MEDIA_ORIGINS"):
            Settings.from_env({"LIVECART_MEDIA_ORIGINS": bad})
