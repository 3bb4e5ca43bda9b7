"""``livecart demo``: seed a demo shop and a running live, print where to look, then serve.

Seeding goes through the app's own functions inside the app's own lifespan
(the same hub, event log and permission rules as a request would use), so the
live's ``live_started`` and ``pinned`` events are in its replay log like any
other. Running it again reuses the demo accounts, products and live.
No network is needed: product images are SVG files shipped in ``static/img``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from app import accounts
from app.accounts import Role, User
from app.factory import create_app
from app.live_actions import pin_product
from app.schemas import PinIn
from app.settings import Settings
from app.state import AppState
from checkout import catalog, profile
from checkout.models import Product
from live import lives
from live.models import Live, LiveStatus

PASSWORD = "livecart-demo"
CREATOR, MODERATOR, STAFF, VIEWER = "demo_creator", "demo_mod", "demo_staff", "demo_viewer"
BUYER = "demo_buyer"  # a viewer whose address and test card are saved: one-tap buying
ACCOUNTS: tuple[tuple[str, Role], ...] = (
    (CREATOR, Role.CREATOR),
    (MODERATOR, Role.VIEWER),
    (STAFF, Role.STAFF),
    (VIEWER, Role.VIEWER),
    (BUYER, Role.VIEWER),
)
LIVE_TITLE = "Friday night finds"
BUYER_ADDRESS = {"name": "Demo Buyer", "line1": "1 Market St", "city": "Springfield",
                 "postal_code": "12345", "country": "US"}  # fmt: skip
# title, description, price_cents, stock, image
PRODUCTS: tuple[tuple[str, str, int, int, str], ...] = (
    ("Blue stoneware mug", "Holds 350 ml of anything warm.", 1800, 40, "mug.svg"),
    ("Sunny cotton tee", "Organic cotton, unisex fit.", 2400, 25, "tshirt.svg"),
    ("Studio headphones", "Closed-back, 40 mm drivers.", 8900, 8, "headphones.svg"),
    ("Desk plant in clay pot", "Low light, low fuss.", 3200, 12, "plant.svg"),
    ("Red desk lamp", "Warm LED, adjustable arm.", 4500, 6, "lamp.svg"),
)


@dataclass(frozen=True)
class DemoShop:
    live_id: int
    product_ids: list[int]
    users: dict[str, int]  # username → id


async def _user(state: AppState, username: str, role: Role) -> User:
    async with state.db.write() as session:
        user = await accounts.get_by_username(session, username)
        if user is None:
            user = await accounts.create_user(session, username, PASSWORD, role)
        return user


async def _products(state: AppState, creator: User) -> list[Product]:
    async with state.db.write() as session:
        existing = {
            p.title: p
            for p in await catalog.list_products(session, creator_id=creator.uid, limit=200)
        }
        out: list[Product] = []
        for title, description, price, stock, image in PRODUCTS:
            product = existing.get(title)
            if product is None:
                product = await catalog.create_product(
                    session, creator_id=creator.uid, title=title, description=description,
                    price_cents=price, stock=stock, image_url=f"/static/img/{image}",
                )  # fmt: skip
            elif product.stock == 0:  # sold out in an earlier demo: restock
                product = await catalog.update_product(session, product, {"stock": stock})
            out.append(product)
        return out


async def _live(state: AppState, creator: User) -> tuple[Live, bool]:
    """The demo live, started; True when it was started just now."""
    async with state.db.read() as session:
        running = await lives.list_lives(session, status=LiveStatus.LIVE, creator_id=creator.uid)
    for live in running:
        if live.title == LIVE_TITLE:
            return live, False
    async with state.db.write() as session:
        live = await lives.create_live(session, creator_id=creator.uid, title=LIVE_TITLE)
    async with state.hub.transaction() as batch:
        started = await lives.start(batch, live.id or 0)
    return started, True


async def _checkout_profile(state: AppState, buyer: User) -> None:
    """The demo buyer's saved address and test card (``tok_visa``), so bids, typing the
    claim keyword in chat and waitlists work at once. Kept if already saved."""
    async with state.db.read() as session:
        if (await profile.read_profile(session, buyer.uid)).complete:
            return
    method = await state.payments.save_method(
        "tok_visa", None, profile.account_reference(buyer.uid)
    )
    async with state.db.write() as session:
        await profile.save_address(session, buyer.uid, BUYER_ADDRESS)
        await profile.save_method(session, buyer.uid, method)


async def seed(state: AppState) -> DemoShop:
    """Create (or find) the demo accounts, products and running live."""
    users = {name: await _user(state, name, role) for name, role in ACCOUNTS}
    creator = users[CREATOR]
    products = await _products(state, creator)
    live, fresh = await _live(state, creator)
    live_id = live.id or 0
    async with state.db.write() as session:
        await lives.add_moderator(session, live, users[MODERATOR].uid)
    await _checkout_profile(state, users[BUYER])
    if fresh or live.pin_id is None:
        await pin_product(state, creator, live_id, PinIn(product_id=products[0].id or 0))
    return DemoShop(
        live_id=live_id,
        product_ids=[p.id or 0 for p in products],
        users={name: user.uid for name, user in users.items()},
    )


async def seed_database(settings: Settings) -> DemoShop:
    """Run the app's lifespan (migrations, hub) just long enough to seed."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.livecart
        return await seed(state)


def banner(shop: DemoShop, base_url: str) -> str:
    lines = [
        "",
        "livecart demo is ready",
        "",
        f"  Lives now           {base_url}/",
        f"  Viewer page         {base_url}/live/{shop.live_id}",
        f"  Creator studio      {base_url}/studio/{shop.live_id}",
        f"  Fulfillment board   {base_url}/fulfillment",
        "",
        f"  Demo logins (password for all: {PASSWORD})",
        f"    {CREATOR:<14} creator: studio, pins and deals",
        f"    {MODERATOR:<14} moderator of the demo live: studio without start/end",
        f"    {STAFF:<14} staff: fulfillment board",
        f"    {VIEWER:<14} viewer: buy and chat",
        f"    {BUYER:<14} viewer with a saved address and test card: bid, or pin with a"
        " claim keyword and type it in chat",
        "",
        "  Tip: open the viewer page on a phone-sized window and the studio beside it.",
        "",
    ]
    return "\n".join(lines)


def public_host(host: str) -> str:
    if host in {"0.0.0.0", "::", ""}:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def prepare(args: argparse.Namespace) -> int:
    """Seed and print the URLs; 0 when the caller should go on to serve."""
    settings = Settings.from_env()
    if args.workers > 1 and not settings.redis_url:
        print("error: --workers above 1 needs REDIS_URL", file=sys.stderr)
        return 2
    shop = asyncio.run(seed_database(settings))
    port = args.port if args.port is not None else settings.port
    print(banner(shop, f"http://{public_host(args.host)}:{port}"), flush=True)
    return 0
