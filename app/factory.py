"""The ASGI application factory and the lifespan that owns every resource."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from app import feed, migrate
from app.admission import Admission
from app.auction_clock import AuctionClock
from app.awarding import Place, placer
from app.bid_gate import BidGate, warm_on_start
from app.board import StaffBoard
from app.commerce import Commerce
from app.db import Database
from app.errors import EXCEPTION_HANDLERS
from app.fulfillment import hand_over, start_fulfillment
from app.giveaway_clock import GiveawayClock
from app.headers import SecurityHeaders, content_security_policy
from app.http import group_routes
from app.openapi import build_openapi
from app.payments import payment_provider
from app.revocation import Revocations
from app.routes import (
    accounts,
    auctions,
    board_ws,
    chat,
    documents,
    fulfillment,
    giveaways,
    live_feed,
    lives,
    ops,
    orders,
    pages,
    products,
    profile,
    replay,
    tickets,
    waitlists,
    ws,
)
from app.routes import (
    warehouses as warehouse_routes,
)
from app.routes import (
    webhooks as webhook_routes,
)
from app.server import AdoptServer
from app.settings import Settings
from app.state import AppState
from app.throttle import Throttle
from app.tokens import TokenSigner
from app.users import UserCache
from app.webhook_worker import start_webhooks
from checkout import warehouses
from checkout.desk import OnPlaced, OrderDesk
from checkout.ports import PaymentProvider
from checkout.queue import LocalConsumer, StreamQueue
from checkout.sla import Calendar
from checkout.waitlist import Serving, WaitlistDesk
from common.tasks import close_within
from live.backends import broker_for
from live.bid_desk import BidDesk
from live.chat_desk import ChatDesk
from live.clock import DealClock
from live.giveaway_counts import EntryCounter
from live.giveaways import EntryDesk
from live.hub import Hub
from live.redis_broker import redis_client

log = logging.getLogger("livecart")


@functools.cache
def _openapi() -> dict[str, Any]:
    """The API description: the same for every app of a process, so built once (it is
    most of an app's construction time, which tests making an app each pay)."""
    return build_openapi(all_routes(), version=_version())


def _version() -> str:
    try:
        return version("livecart")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def all_routes() -> list[BaseRoute]:
    return group_routes(
        [
            *ops.routes,
            *accounts.routes,
            *profile.routes,
            *products.routes,
            *warehouse_routes.routes,
            *webhook_routes.routes,
            *waitlists.routes,
            *lives.routes,
            *auctions.routes,
            *giveaways.routes,
            *live_feed.routes,
            *replay.routes,
            *chat.routes,
            *orders.routes,
            *tickets.routes,
            *fulfillment.routes,
            *documents.routes,
            *ws.routes,
            *board_ws.routes,
            *pages.routes,
        ]
    )


def tune_garbage_collector() -> None:
    """For a server process, once its app has started: under load the collector ran
    several times per batch of requests. What exists now (modules, the app) is moved
    out of its way for good, and young objects are collected every 10,000 allocations
    instead of 700. Only for a process that serves one app for its whole life: objects
    frozen here are never collected, even once they are garbage."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


class LivecartApp(Starlette):
    """The Starlette app, with viewer sockets dispatched in front of its stack.

    An idle viewer socket otherwise sits under 17 suspended coroutines (middleware,
    router, exception wrappers), about 4 KB each of 10,000 viewers; ``live_socket``
    handles every error itself and needs none of them.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[1:3] == ["ws", "lives"] and parts[3]:
                scope["app"] = self
                scope["path_params"] = {"id": parts[3]}
                await ws.live_socket(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


async def _start_hub(settings: Settings, db: Database, stack: contextlib.AsyncExitStack) -> Hub:
    hub = Hub(
        broker_for(settings.redis_url),
        db,
        presence_interval=settings.presence_interval_s,
        advance=feed.advance,
    )
    await hub.start()
    stack.push_async_callback(hub.stop)
    return hub


async def _start_auctions(
    hub: Hub,
    db: Database,
    commerce: Commerce,
    award: Place,
    serving: Serving,
    stack: contextlib.AsyncExitStack,
) -> tuple[BidDesk, BidGate, AuctionClock]:
    """The bid desk and gate, which read along the hub's stream (floors, warming), and
    the clock that closes auctions and has their winners' orders placed with ``award``."""
    bids = BidDesk(hub.publisher)
    hub.fanout.read_along(bids.read)
    stack.push_async_callback(bids.stop)
    gate = BidGate()
    hub.fanout.read_along(warm_on_start(gate, hub, db))
    auction_clock = AuctionClock(commerce, award, serving=serving)
    await auction_clock.start()
    stack.push_async_callback(auction_clock.stop)
    return bids, gate, auction_clock


def _social_desks(
    hub: Hub, db: Database, stack: contextlib.AsyncExitStack
) -> tuple[ChatDesk, WaitlistDesk, EntryDesk]:
    """The desks that batch a storm's chat lines (per live), waitlist joins (per
    product) and giveaway entries (per giveaway, their count told to the live at most
    once a second); stopped with the app."""
    chat_desk, waitlists = ChatDesk(hub.publisher), WaitlistDesk(db.write)
    counter = EntryCounter(hub.publisher)
    entries = EntryDesk(db.write, counter.entered)
    for desk in (counter, chat_desk, waitlists, entries):  # stopped in reverse: counter last
        stack.push_async_callback(desk.stop)
    return chat_desk, waitlists, entries


async def _start_giveaways(
    commerce: Commerce, award: Place, serving: Serving, stack: contextlib.AsyncExitStack
) -> GiveawayClock:
    """The clock that draws giveaways and has their winners' orders placed with ``award``."""
    clock = GiveawayClock(commerce, award, serving=serving)
    await clock.start()
    stack.push_async_callback(clock.stop)
    return clock


def _order_desk(
    commerce: Commerce, payments: PaymentProvider, on_placed: OnPlaced, *, relayed: bool,
    stack: contextlib.AsyncExitStack,
) -> OrderDesk:  # fmt: skip
    """The desk every order goes through (REST, claims); closed with the app."""
    desk = OrderDesk(commerce.transaction, payments, orders.order_answer, relayed=relayed,
                     on_placed=on_placed)  # fmt: skip
    stack.push_async_callback(desk.close)
    return desk


async def _open_database(settings: Settings, stack: contextlib.AsyncExitStack) -> Database:
    """Connect, migrate, keep ``MAIN``'s country as configured, warm the pool."""
    db = Database.from_url(settings.database_url)
    stack.push_async_callback(close_within, db.dispose, "database")
    await migrate.upgrade(db.engine)
    async with db.write() as session:
        await warehouses.keep_main(session, settings.main_country)
    await db.warm()
    return db


async def _start_loops(
    commerce: Commerce, redis: Redis | None, settings: Settings,
    stack: contextlib.AsyncExitStack,
) -> tuple[StreamQueue | None, LocalConsumer | None]:  # fmt: skip
    """Fulfillment, and webhooks in one process (with Redis, the workers deliver them).
    On the way out their loops all end their steps together before each is stopped."""
    queue, local = await start_fulfillment(commerce, redis, stack)
    webhooks = await start_webhooks(commerce, settings, stack) if redis is None else None
    for loops in (queue, local, webhooks):
        if loops is not None:
            stack.callback(loops.stopping)
    return queue, local


async def open_state(settings: Settings, stack: contextlib.AsyncExitStack) -> AppState:
    """Connect and start every resource of one app; ``stack`` closes them in reverse."""
    db = await _open_database(settings, stack)
    redis: Redis | None = None
    if settings.redis_url:
        redis = redis_client(settings.redis_url)
        stack.push_async_callback(close_within, redis.aclose, "redis")
    hub = await _start_hub(settings, db, stack)
    deals = DealClock(hub)
    await deals.start()
    stack.push_async_callback(deals.stop)
    commerce = Commerce(hub.publisher, Calendar(settings.ship_by_days, settings.main_country))
    queue, local = await _start_loops(commerce, redis, settings, stack)
    payments = payment_provider(settings)
    on_placed = hand_over(queue, local)
    desk = _order_desk(commerce, payments, on_placed, relayed=queue is not None, stack=stack)
    award = placer(commerce, payments, on_placed, relayed=queue is not None)
    serving = Serving(payments, orders.order_answer)
    bids, gate, auction_clock = await _start_auctions(hub, db, commerce, award, serving, stack)
    chat_desk, waitlists, entries = _social_desks(hub, db, stack)
    giveaway_clock = await _start_giveaways(commerce, award, serving, stack)
    users = UserCache()
    board = StaffBoard()
    await board.start(hub)
    revocations = Revocations(db, users, hub)
    await revocations.start()
    stack.push_async_callback(revocations.stop)
    return AppState(
        settings=settings,
        db=db,
        tokens=TokenSigner(settings.secret_key, settings.token_ttl_s),
        hub=hub,
        commerce=commerce,
        deals=deals,
        payments=payments,
        desk=desk,
        chat_desk=chat_desk,
        serving=serving,
        waitlists=waitlists,
        entries=entries,
        giveaway_clock=giveaway_clock,
        admission=Admission(
            settings.max_sockets_per_address,
            settings.max_sockets_per_user,
            settings.max_joins_in_flight,
        ),
        bids=bids,
        bid_gate=gate,
        auction_clock=auction_clock,
        throttle=Throttle(settings, hub.broker),
        revocations=revocations,
        board=board,
        users=users,
        redis=redis,
        queue=queue,
    )


def create_app(
    settings: Settings, *, middleware: list[Middleware] | None = None, tune_gc: bool = False
) -> Starlette:
    """Build a livecart app. Nothing is connected until the lifespan starts.

    ``tune_gc``: tune the garbage collector once started (``tune_garbage_collector``);
    for the one app of a server process (``app.main``), not for tests that make many.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app.state.livecart = await open_state(settings, stack)
            if tune_gc:
                tune_garbage_collector()
            yield

    routes = all_routes() + pages.media_routes(settings.media_dir)
    app = LivecartApp(
        routes=routes,
        middleware=[
            Middleware(AdoptServer, settings=settings),
            Middleware(SecurityHeaders, policy=content_security_policy(settings.media_origins)),
            *(middleware or []),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.openapi = _openapi()
    return app
