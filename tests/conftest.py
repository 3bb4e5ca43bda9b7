"""Shared fixtures: an app per test on SQLite (always) and PostgreSQL (when configured).

The schema is migrated once per session (per xdist worker) with the real Alembic
migrations; each test then starts from empty tables (a copied SQLite file, or DELETE and restarted
sequences).
Every worker has its own PostgreSQL database and Redis server (tests/services.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from starlette.testclient import TestClient

from app import accounts, demo, migrate
from app.db import Database, make_engine
from app.factory import create_app
from app.models import metadata
from app.settings import Settings, _normalise_database_url
from tests import services
from tests.http_helpers import Api
from tests.live_server import LiveServer, serve
from tests.order_helpers import Shop
from tests.pages_helpers import SCREENSHOTS, Browser, Site, open_browser, require_browser
from tests.ws_helpers import Rest, rest_for

TABLES = [t.name for t in reversed(metadata.sorted_tables)]

# Servers the tests start as processes inherit these: every client there comes from
# 127.0.0.1 and registers many accounts. Tests of the limits set them explicitly.
for _limit in (
    "LIVECART_LOGIN_FAILURES_PER_ACCOUNT",
    "LIVECART_LOGIN_FAILURES_PER_ADDRESS",
    "LIVECART_REGISTRATIONS_PER_ADDRESS",
):
    os.environ.setdefault(_limit, "0")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with slow or browser tests run first: the parallel workers share out the
    long tests while plenty of short ones are left to even out the end of the run, which
    would otherwise wait on one worker finishing a long test alone. Order within a module
    is kept."""
    long_modules = {
        item.nodeid.partition("::")[0]
        for item in items
        if item.get_closest_marker("slow") or item.get_closest_marker("browser")
    }
    items.sort(key=lambda item: item.nodeid.partition("::")[0] not in long_modules)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.one_database``: run on SQLite alone, for behaviour that is decided
    before any query (request validation, permissions, logging). A value the server wrongly
    let through would fail there too; what only PostgreSQL refuses (NUL in text, integers
    over 32 bits) is tested on both."""
    if metafunc.definition.get_closest_marker("one_database") and (
        "database_url" in metafunc.fixturenames
    ):
        # A mark, not metafunc.parametrize: the fixture's own parameters give way to it.
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        )


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters for apps in this process (servers started as processes
    keep the real ones); verification reads the parameters from each stored hash."""
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


async def _create_database(url: str) -> None:
    """Create ``url``'s database unless it exists (connected to the configured one)."""
    name = url.rpartition("/")[2].partition("?")[0]
    configured = _normalise_database_url(os.environ["TEST_DATABASE_URL"])
    admin = configured.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _reset_postgres(url: str) -> None:
    if services.WORKER:
        await _create_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _empty_postgres(url: str) -> None:
    """Empty every table and restart every id sequence. DELETE, not TRUNCATE: on tables
    this small it takes milliseconds where TRUNCATE takes a tenth of a second or more."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        sequences = await conn.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        )
        statements = (
            [f"DELETE FROM {table}" for table in TABLES]
            + [f'ALTER SEQUENCE "{row[0]}" RESTART' for row in sequences]
            + [  # as migrated: the warehouse that always exists
                "INSERT INTO warehouses (code, name, country, created_at) "
                "VALUES ('MAIN', 'Main warehouse', 'US', now())"
            ]
        )
        await conn.execute("; ".join(statements))  # one implicit transaction
    finally:
        await conn.close()


async def _migrate_sqlite(url: str) -> None:
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate_sqlite(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        services.unavailable("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    url = services.worker_database_url(_normalise_database_url(raw))
    try:
        asyncio.run(_reset_postgres(url))
    except (OSError, Exception) as exc:  # unreachable server, bad credentials, ...
        services.unavailable(f"PostgreSQL at TEST_DATABASE_URL is unusable: {exc!r}")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for one test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "livecart.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_postgres(url))
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, straight (no app): for tests of checkout/ and live/ code."""
    database = Database.from_url(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    with services.redis_url() as url:
        yield url


@pytest.fixture
def own_redis() -> Iterator[services.RedisServer]:
    """A redis-server for this test alone, which the test may stop and restart."""
    with services.running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A Redis for one test: emptied first, since ids restart with every test database."""
    services.empty_redis(redis_server_url)
    return redis_server_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        env="test",
        # Every test client shares one address and makes many accounts; the throttle has
        # tests of its own (tests/app/test_account_safety.py).
        login_failures_per_account=0,
        login_failures_per_address=0,
        registrations_per_address=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def shop(api: Api) -> Shop:
    """A creator with a product, a buyer, bystanders of every role (tests/order_helpers.py)."""
    return Shop(api)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app under a real uvicorn in this test's event loop (fast presence ticks)."""
    async with serve(replace(settings, presence_interval_s=0.1)) as live_server:
        yield live_server


@pytest.fixture
async def rest(server: LiveServer) -> AsyncIterator[Rest]:
    """REST calls to the ``server`` fixture's app."""
    async with rest_for(server.url) as client:
        yield client


@pytest.fixture
def page_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    """For the page tests: SQLite only (the pages do not care which database serves them)."""
    path = tmp_path / "livecart.db"
    shutil.copy(sqlite_template, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key="page-test-secret",
        env="test",
        presence_interval_s=0.2,
    )


@pytest.fixture
async def served(page_settings: Settings) -> AsyncIterator[LiveServer]:
    """The page tests' real server (a test may reach into its state, say to end an
    auction or a giveaway now)."""
    async with serve(page_settings) as server:
        yield server


@pytest.fixture
async def site(served: LiveServer) -> Site:
    """The demo shop on the page tests' server."""
    shop = await demo.seed(served.state)
    return Site(served.url, shop, served.state.tokens)


@pytest.fixture
async def browser(site: Site, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """Chromium (skipped without it) on the page tests' site; screenshots per test."""
    require_browser()
    async with open_browser(site.url, SCREENSHOTS / request.node.name) as opened:
        yield opened
