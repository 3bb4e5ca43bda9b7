"""Tables of the live package."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from common.times import utcnow


def _ts(nullable: bool = True) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class LiveStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class Live(SQLModel, table=True):
    __tablename__ = "lives"

    id: int | None = Field(default=None, primary_key=True)
    creator_id: int = Field(foreign_key="users.id", index=True)
    title: str = Field(max_length=200)
    status: str = Field(default=LiveStatus.SCHEDULED.value, max_length=16, index=True)
    stream_url: str | None = Field(default=None, max_length=2048)
    # The show's recording, played on its replay page (``/replay/{id}``).
    recording_url: str | None = Field(default=None, max_length=2048)
    # When the show is announced to start (a scheduled live's time; None: not said).
    scheduled_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_ts())
    ended_at: datetime | None = Field(default=None, sa_column=_ts())
    # The event log's head: the seq of the newest broadcast event of this live.
    last_seq: int = Field(default=0)
    peak_viewers: int = Field(default=0)
    # The current pin (None when nothing is pinned); history is in live_pins.
    pin_id: int | None = Field(default=None)
    # Slow mode: a viewer may chat once every this many seconds (0: off).
    slow_mode_s: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class LiveModerator(SQLModel, table=True):
    __tablename__ = "live_moderators"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class LiveEvent(SQLModel, table=True):
    """The replay log: every broadcast event of a live, its seq and its encoded frame."""

    __tablename__ = "live_events"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    seq: int = Field(primary_key=True)
    type: str = Field(max_length=32)
    frame: str  # the exact JSON text sent to viewers
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class LivePin(SQLModel, table=True):
    """One pin of a product on a live, with its optional flash deal."""

    __tablename__ = "live_pins"

    id: int | None = Field(default=None, primary_key=True)
    live_id: int = Field(foreign_key="lives.id", index=True)
    product_id: int = Field(index=True)
    pinned_by: int = Field(foreign_key="users.id")
    pinned_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    unpinned_at: datetime | None = Field(default=None, sa_column=_ts())
    # The product card as shown when pinned (title, price, image...): live never reads products.
    card: str
    pinned_by_name: str = Field(default="", max_length=32)
    deal_price_cents: int | None = None
    deal_quantity: int | None = None
    deal_remaining: int | None = None
    deal_per_buyer_limit: int | None = None
    deal_ends_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=True)
    )
    # Set once, by whichever process ends the deal first: "expired" | "sold_out" | "unpinned".
    deal_ended_reason: str | None = Field(default=None, max_length=16)
    # Comment-to-buy: a chat message whose first word is this (any case) claims the product.
    claim_keyword: str | None = Field(default=None, max_length=20)


class LiveBagItem(SQLModel, table=True):
    """Products shown on a live (every pinned product lands here)."""

    __tablename__ = "live_bag"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    product_id: int = Field(primary_key=True)
    added_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class DealClaim(SQLModel, table=True):
    """Units of a deal one buyer has taken (enforces the per-buyer limit)."""

    __tablename__ = "live_deal_claims"

    pin_id: int = Field(foreign_key="live_pins.id", primary_key=True)
    buyer_id: int = Field(foreign_key="users.id", primary_key=True)
    quantity: int


class ChatMessage(SQLModel, table=True):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_live_recent", "live_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    live_id: int = Field(foreign_key="lives.id")
    user_id: int = Field(foreign_key="users.id")
    username: str = Field(max_length=32)
    text: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=_ts())


class LiveMute(SQLModel, table=True):
    __tablename__ = "live_mutes"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    until: datetime = Field(sa_column=_ts(nullable=False))


class LiveBan(SQLModel, table=True):
    __tablename__ = "live_bans"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class BlockedWord(SQLModel, table=True):
    __tablename__ = "live_blocked_words"

    live_id: int = Field(foreign_key="lives.id", primary_key=True)
    word: str = Field(max_length=64, primary_key=True)


class ModerationAction(SQLModel, table=True):
    """The audit log: who did what to whom, when."""

    __tablename__ = "moderation_log"

    id: int | None = Field(default=None, primary_key=True)
    live_id: int = Field(foreign_key="lives.id", index=True)
    actor_id: int = Field(foreign_key="users.id")
    actor_name: str = Field(max_length=32)
    action: str = Field(max_length=32)
    target_id: int | None = None
    target_name: str | None = Field(default=None, max_length=32)
    detail: str = Field(default="{}")  # JSON
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Auction(SQLModel, table=True):
    """One auction of one unit of a product on a live.

    ``closed_at`` is set exactly once, by whichever process closes the auction at
    ``ends_at`` (a conditional UPDATE); ``status`` stays ``running`` until the unit
    is paid for (``sold``) or nobody could pay (``unsold``)."""

    __tablename__ = "auctions"
    __table_args__ = (Index("ix_auctions_live_status", "live_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    live_id: int = Field(foreign_key="lives.id")
    product_id: int = Field(index=True)
    started_by: int = Field(foreign_key="users.id")
    status: str = Field(default="running", max_length=16)
    card: str  # the product card (JSON) as shown when the auction started
    currency: str = Field(default="USD", max_length=3)
    start_cents: int
    price_cents: int
    bids: int = Field(default=0)
    extend_s: int
    sudden_death: bool = Field(default=False)
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    leader_id: int | None = None
    leader_name: str | None = Field(default=None, max_length=32)
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    winner_id: int | None = None
    winner_name: str | None = Field(default=None, max_length=32)
    order_id: int | None = None
    # Bidders who could not pay, in the order they were tried (JSON list of
    # {id, username, price_cents, reason}).
    passed: str = Field(default="[]")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=_ts())


class AuctionStanding(SQLModel, table=True):
    """One bidder's best on an auction: public amount, secret maximum, and the bid
    counter value when the maximum was reached (earlier wins ties)."""

    __tablename__ = "auction_standings"

    auction_id: int = Field(foreign_key="auctions.id", primary_key=True)
    bidder_id: int = Field(foreign_key="users.id", primary_key=True)
    bidder_name: str = Field(max_length=32)
    amount_cents: int
    max_cents: int
    since: int


class AuctionBid(SQLModel, table=True):
    """Every accepted bid, in order: the auction's public history."""

    __tablename__ = "auction_bids"
    __table_args__ = (Index("ix_auction_bids_auction", "auction_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    auction_id: int = Field(foreign_key="auctions.id")
    bidder_id: int = Field(foreign_key="users.id")
    bidder_name: str = Field(max_length=32)
    amount_cents: int
    price_cents: int  # the auction's price once this bid was taken
    leader_id: int  # who led once this bid was taken
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Giveaway(SQLModel, table=True):
    """One giveaway of one unit of a product on a live (contract: Giveaways).

    ``seed`` is secret until the draw; ``seed_hash`` (its SHA-256) is public from the
    start. ``status`` turns ``drawn`` exactly once (a conditional UPDATE under the row
    lock), with the winner computed from the seed and the entries in id order;
    ``settled_at`` is set once the prize is dealt with (the winner's order placed, or
    the unit back in stock when nobody entered or the winner could not receive it)."""

    __tablename__ = "giveaways"
    __table_args__ = (Index("ix_giveaways_live_status", "live_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    live_id: int = Field(foreign_key="lives.id")
    product_id: int = Field(index=True)
    started_by: int = Field(foreign_key="users.id")
    card: str  # the product card (JSON) as shown when the giveaway started
    currency: str = Field(default="USD", max_length=3)
    keyword: str | None = Field(default=None, max_length=20)
    seed: str = Field(max_length=64)
    seed_hash: str = Field(max_length=64)
    status: str = Field(default="open", max_length=16)
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    entries: int = Field(default=0)  # counted at the draw; open: count the entries
    winner_id: int | None = None
    winner_name: str | None = Field(default=None, max_length=32)
    drawn_at: datetime | None = Field(default=None, sa_column=_ts())
    order_id: int | None = None
    # Why the prize was not sent ("no_entries", or the checkout error's code).
    unclaimed: str | None = Field(default=None, max_length=64)
    settled_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class GiveawayEntry(SQLModel, table=True):
    """One account's entry; entry order is ``id`` order (one entry per account)."""

    __tablename__ = "giveaway_entries"
    __table_args__ = (
        Index("ux_giveaway_entries_user", "giveaway_id", "user_id", unique=True),
        Index("ix_giveaway_entries_order", "giveaway_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    giveaway_id: int = Field(foreign_key="giveaways.id")
    user_id: int = Field(foreign_key="users.id")
    username: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
