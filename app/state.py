"""The resources one running app owns, created and closed by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.admission import Admission
from app.auction_clock import AuctionClock
from app.bid_gate import BidGate
from app.board import StaffBoard
from app.commerce import Commerce
from app.db import Database
from app.giveaway_clock import GiveawayClock
from app.revocation import Revocations
from app.settings import Settings
from app.throttle import Throttle
from app.tokens import TokenSigner
from app.users import UserCache
from checkout.desk import OrderDesk
from checkout.ports import PaymentProvider
from checkout.queue import StreamQueue
from checkout.waitlist import Serving, WaitlistDesk
from live.bid_desk import BidDesk
from live.chat_desk import ChatDesk
from live.clock import DealClock
from live.giveaways import EntryDesk
from live.hub import Hub


@dataclass
class AppState:
    settings: Settings
    db: Database
    tokens: TokenSigner
    hub: Hub
    commerce: Commerce
    deals: DealClock
    bids: BidDesk
    chat_desk: ChatDesk
    auction_clock: AuctionClock
    payments: PaymentProvider
    desk: OrderDesk
    serving: Serving  # units put back go to waitlists first
    waitlists: WaitlistDesk
    entries: EntryDesk  # giveaway entries, in batches
    giveaway_clock: GiveawayClock
    admission: Admission
    throttle: Throttle
    revocations: Revocations
    redis: Redis | None = None
    queue: StreamQueue | None = None  # with Redis: web processes only push to the stream
    users: UserCache = field(default_factory=UserCache)
    bid_gate: BidGate = field(default_factory=BidGate)
    board: StaffBoard = field(default_factory=StaffBoard)  # the staff board's sockets
