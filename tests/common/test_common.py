"""The shared leaf ``common/``: time formatting, key names, SQL helpers on both
databases, and the package boundaries (common imports none of app/live/checkout;
live and checkout never import each other)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import select

from app.accounts import Role, User, insert_user
from app.db import Database
from app.schemas import MuteBody, SlowModeIn
from checkout import catalog
from checkout.errors import ProductNotFound
from common import keys, limits
from common.sql import get_or_raise, newest_first, upsert_insert
from common.times import iso_utc, utc, utcnow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "live", "checkout", "common")

# ---- times


def test_utcnow_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_utc_reads_naive_values_as_utc_and_converts_aware_ones() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert utc(naive) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    converted = utc(paris)
    assert converted.utcoffset() == timedelta(0)
    assert converted == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 678901), "2026-01-02T03:04:05.678901Z"),
        (datetime(2026, 1, 2, 0, 30, tzinfo=timezone(timedelta(hours=-5))), "2026-01-02T05:30:00Z"),
    ],
)
def test_iso_utc_is_utc_with_a_z(value: datetime, shown: str) -> None:
    assert iso_utc(value) == shown


# ---- keys


def test_every_key_and_channel_carries_the_prefix() -> None:
    names = [
        keys.live_channel(1), keys.user_channel(2), keys.process_channel("p"),
        keys.accounts_channel(), keys.presence(1), keys.presence_refs(1),
        keys.presence_users(1, "p"), keys.presence_seen(1), keys.chat_bucket(1, 2),
        keys.chat_cooldown(1, 2), keys.attempts("login-address", "10.0.0.1"),
        keys.ORDERS_STREAM, keys.ORDERS_EPOCH,
    ]  # fmt: skip
    assert all(name.startswith(keys.PREFIX + ":") for name in names)
    assert len(set(names)) == len(names)
    assert keys.presence_users(7, "p1").startswith(keys.presence_users_prefix(7))


def test_parse_channel_reads_back_live_and_user_channels() -> None:
    assert keys.parse_channel(keys.live_channel(12)) == ("live", 12)
    assert keys.parse_channel(keys.user_channel(3)) == ("user", 3)


@pytest.mark.parametrize(
    "name",
    [
        "livecart:accounts", "livecart:process:abc", "livecart:live:", "livecart:live:x1",
        "livecart:live:-1", "livecart:live:1:2", "livecart:user:١٢", "other:live:12",
        "livecart:presence:12", "live:12", "",
    ],
)  # fmt: skip
def test_parse_channel_refuses_other_names(name: str) -> None:
    assert keys.parse_channel(name) is None


def test_the_api_and_its_docs_hold_the_shared_limits() -> None:
    assert MuteBody(duration_s=limits.MAX_MUTE_S).duration_s == 7 * 24 * 3600
    assert SlowModeIn(seconds=limits.MAX_SLOW_MODE_S).seconds == 3600
    with pytest.raises(ValidationError):
        MuteBody(duration_s=limits.MAX_MUTE_S + 1)
    with pytest.raises(ValidationError):
        SlowModeIn(seconds=limits.MAX_SLOW_MODE_S + 1)
    api = (ROOT / "docs" / "api.md").read_text()
    assert f"`{{duration_s}}` 1–{limits.MAX_MUTE_S:,} |" in api
    assert f"`{{seconds}}` 0–{limits.MAX_SLOW_MODE_S:,} |" in api


# ---- SQL on both databases


def _user(name: str, role: Role = Role.VIEWER) -> dict[str, object]:
    return {"username": name, "password_hash": "x", "role": role.value, "token_version": 0,
            "created_at": utcnow()}  # fmt: skip


async def test_upsert_insert_skips_or_updates_on_conflict(db: Database) -> None:
    async with db.write() as session:
        insert = upsert_insert(session)
        first = await session.exec(insert(User).values(**_user("ana")).on_conflict_do_nothing())
        again = await session.exec(insert(User).values(**_user("ana")).on_conflict_do_nothing())
        assert (first.rowcount, again.rowcount) == (1, 0)
        await session.exec(
            insert(User)
            .values(**_user("ana"))
            .on_conflict_do_update(index_elements=["username"], set_={"role": "creator"})
        )
    async with db.read() as session:
        rows = (await session.exec(select(User).where(User.username == "ana"))).all()
    assert [(u.username, u.role) for u in rows] == [("ana", "creator")]


async def test_get_or_raise(db: Database) -> None:
    async with db.write() as session:
        user = await insert_user(session, "bo", "x", Role.CREATOR)
        found = await get_or_raise(session, User, user.uid, LookupError("gone"))
        assert found.username == "bo"
        with pytest.raises(LookupError, match="gone"):
            await get_or_raise(session, User, user.uid + 1000, LookupError("gone"))
        with pytest.raises(ProductNotFound):
            await catalog.get_product(session, 999_999)


async def test_newest_first_filters_and_pages(db: Database) -> None:
    async with db.write() as session:
        ana = await insert_user(session, "ana", "x", Role.CREATOR)
        bo = await insert_user(session, "bo", "x", Role.CREATOR)
        made = []
        for i, owner in enumerate([ana, bo, ana, ana]):
            product = await catalog.create_product(
                session, creator_id=owner.uid, title=f"p{i}", price_cents=100, stock=1
            )
            made.append(product.id)
    async with db.read() as session:
        everything = await catalog.list_products(session)
        of_ana = await catalog.list_products(session, creator_id=ana.uid)
        page = await newest_first(session, User, limit=1, offset=1, role=None)
        none = await newest_first(session, User, limit=5, offset=0, username="nobody")
    assert [p.id for p in everything] == made[::-1]
    assert [p.id for p in of_ana] == [made[3], made[2], made[0]]
    assert [u.username for u in page] == ["ana"]
    assert none == []


# ---- package boundaries


def _imports_of(directory: Path) -> dict[str, set[str]]:
    """Which of ``PACKAGES`` each module below ``directory`` imports, at any depth
    (function-local imports count too)."""
    found: dict[str, set[str]] = {}
    for path in sorted(directory.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tops: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
        found[path.relative_to(directory).as_posix()] = tops & set(PACKAGES)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("common", {"app", "live", "checkout"}),
        ("live", {"app", "checkout"}),
        ("checkout", {"app", "live"}),
    ],
)
def test_package_boundaries(package: str, forbidden: set[str]) -> None:
    imports = _imports_of(ROOT / package)
    assert len(imports) > 3, f"too few modules found in {package}/"
    wrong = {
        module: sorted(tops & forbidden) for module, tops in imports.items() if tops & forbidden
    }
    assert wrong == {}


def test_the_boundary_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from live.hub import Hub\nimport os\n")
    (tmp_path / "b.py").write_text("def f():\n    import checkout.orders\n    from . import x\n")
    (tmp_path / "c.py").write_text("from common import keys\nimport app.db as db\n")
    assert _imports_of(tmp_path) == {
        "a.py": {"live"},
        "b.py": {"checkout"},
        "c.py": {"common", "app"},
    }
