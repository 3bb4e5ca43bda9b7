"""Request and response shapes (pydantic), shared by validation, serialisation and OpenAPI.

Field types and their checks are in ``app.fields``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from app.fields import (
    Cents,
    City,
    Currency,
    Description,
    Id,
    Keyword,
    LoginName,
    Name,
    Password,
    PostalCode,
    Reason,
    RequestBody,
    Short,
    Stock,
    Title,
    Upcoming,
    Url,
    Username,
    UtcTime,
)
from app.replay_schemas import ReplayStats
from common.limits import MAX_MUTE_S, MAX_SLOW_MODE_S

# ---- accounts


class RegisterIn(RequestBody):
    username: Username
    password: Password
    role: Literal["viewer", "creator"] = "viewer"


class LoginIn(RequestBody):
    username: LoginName
    password: Annotated[StrictStr, Field(max_length=1024)]


class PasswordChangeIn(RequestBody):
    current_password: Annotated[StrictStr, Field(max_length=1024)]
    new_password: Password


class LogoutIn(RequestBody):
    # True: every token of the account stops working, not just this one.
    everywhere: StrictBool = False


class RoleIn(RequestBody):
    role: Literal["viewer", "creator", "staff", "admin"]


class UserOut(BaseModel):
    id: int
    username: str
    role: str


class UserEnvelope(BaseModel):
    user: UserOut


class AuthOut(BaseModel):
    user: UserOut
    token: str


# ---- products


class ProductIn(RequestBody):
    title: Title
    description: Description = ""
    price_cents: Cents
    currency: Currency = "USD"
    stock: Stock
    image_url: Url | None = None
    url: Url | None = None


class ProductPatch(RequestBody):
    title: Title | None = None
    description: Description | None = None
    price_cents: Cents | None = None
    currency: Currency | None = None
    stock: Stock | None = None
    image_url: Url | None = None
    url: Url | None = None


# Columns that may be changed but never cleared: an explicit null is refused.
PRODUCT_REQUIRED = ("title", "description", "price_cents", "currency", "stock")


def explicit_nulls(body: BaseModel, names: tuple[str, ...]) -> dict[str, str]:
    """Field errors for each of ``names`` the client sent as null."""
    return {
        name: "must not be null"
        for name in names
        if name in body.model_fields_set and getattr(body, name) is None
    }


class ProductOut(BaseModel):
    id: int
    creator_id: int
    title: str
    description: str
    price_cents: int
    currency: str
    stock: int
    image_url: str | None
    url: str | None


class ProductEnvelope(BaseModel):
    product: ProductOut


class ProductList(BaseModel):
    products: list[ProductOut]


# ---- lives


class LiveIn(RequestBody):
    title: Title
    stream_url: Url | None = None
    scheduled_at: Upcoming | None = None  # when the show is announced to start


class PinnedProduct(BaseModel):
    id: int
    title: str
    price_cents: int
    currency: str
    image_url: str | None
    url: str | None
    stock: int


class DealOut(BaseModel):
    price_cents: int
    quantity: int
    remaining: int
    per_buyer_limit: int | None
    ends_at: str  # ISO 8601 UTC


class ActorOut(BaseModel):
    id: int
    username: str


class PinnedOut(BaseModel):
    product: PinnedProduct
    deal: DealOut | None
    by: ActorOut
    claim_keyword: str | None = None


class PinnedEnvelope(BaseModel):
    pinned: PinnedOut


class LiveOut(BaseModel):
    id: int
    creator_id: int
    title: str
    status: Literal["scheduled", "live", "ended"]
    stream_url: str | None
    recording_url: str | None = None  # the show's recording (its replay page plays it)
    scheduled_at: UtcTime | None = None  # when it is announced to start
    pinned: PinnedOut | None = None
    viewers: int = 0
    created_at: UtcTime
    started_at: UtcTime | None
    ended_at: UtcTime | None


class LiveEnvelope(BaseModel):
    live: LiveOut


class LiveList(BaseModel):
    lives: list[LiveOut]


class DealIn(RequestBody):
    price_cents: Cents
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    duration_s: Annotated[StrictInt, Field(ge=1, le=24 * 3600)]


class PinIn(RequestBody):
    product_id: Id
    deal: DealIn | None = None
    claim_keyword: Keyword | None = None  # comment-to-buy: chatting it buys the product


class EventList(BaseModel):
    events: list[dict[str, Any]]


class PinStats(BaseModel):
    product_id: int
    pinned_at: UtcTime
    unpinned_at: UtcTime | None
    orders: int = 0
    units: int = 0


class LiveStats(BaseModel):
    viewers: int
    peak_viewers: int
    orders: int = 0
    units: int = 0
    revenue_cents: int = 0
    pins: list[PinStats]
    replay: ReplayStats = ReplayStats()  # orders from the replay page, counted apart


class ModeratorList(BaseModel):
    moderators: list[UserOut]


# ---- operations


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


# ---- orders

MAX_ORDER_QUANTITY = 1000


class ShippingIn(RequestBody):
    name: Name
    line1: Name
    city: City
    postal_code: PostalCode
    country: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]


class OrderIn(RequestBody):
    product_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_ORDER_QUANTITY)]
    live_id: Id | None = None
    shipping: ShippingIn | None = None  # omitted (or null): the buyer's saved address
    # "replay": bought from the live's replay page (live_id required): the list price.
    source: Literal["replay"] | None = None


class HistoryOut(BaseModel):
    status: str
    at: str
    by: str
    note: str | None = None  # why, when the one who made the change said (staff's reason)


class TrackingOut(BaseModel):
    carrier: str | None
    tracking_number: str | None


class ReturnOut(BaseModel):
    rma: str
    reason: str
    note: str | None
    condition: str | None  # set when the return is received


class OrderOut(BaseModel):
    id: int
    buyer_id: int
    product_id: int
    live_id: int | None
    source: str
    quantity: int
    unit_price_cents: int
    total_cents: int
    currency: str
    status: str
    payment_status: str
    tracking: TrackingOut | None
    shipping: dict[str, str]
    return_reason: str | None
    return_: ReturnOut | None = Field(default=None, alias="return")
    ship_by: str | None = None  # when it is due to ship (null: placed before ship-by dates)
    late: bool = False  # not shipped by ship_by
    shipment_id: int | None = None  # the shipment it went out in
    warehouse: str = "MAIN"  # the warehouse it was allocated to at placement; ships from there
    history: list[HistoryOut]
    created_at: str

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)


class OrderEnvelope(BaseModel):
    order: OrderOut


class OrderList(BaseModel):
    orders: list[OrderOut]


class ReturnIn(RequestBody):
    # One of damaged, wrong_item, not_as_described, changed_mind, other; any other text
    # (v1: the buyer's own words) is kept as the note of reason "other".
    reason: Reason
    note: Reason | None = None


class ChatIn(RequestBody):
    text: Annotated[StrictStr, Field(max_length=2000)]


class DeleteChatIn(RequestBody):
    id: Id


class TargetIn(RequestBody):
    username: Annotated[StrictStr, Field(max_length=64)]


class MuteBody(RequestBody):
    duration_s: Annotated[StrictInt, Field(ge=1, le=MAX_MUTE_S)]


class MuteIn(TargetIn, MuteBody):
    pass


class SlowModeIn(RequestBody):
    seconds: Annotated[StrictInt, Field(ge=0, le=MAX_SLOW_MODE_S)]


class BlockedWordsIn(RequestBody):
    words: Annotated[list[Short],
                     Field(max_length=500)]  # fmt: skip


class BlockedWordsOut(BaseModel):
    blocked_words: list[str]


class ChatMessageOut(BaseModel):
    id: int
    user: ActorOut
    text: str
    at: str


class ChatList(BaseModel):
    messages: list[ChatMessageOut]


class MuteOut(BaseModel):
    mute: dict[str, Any]


class SlowModeOut(BaseModel):
    slow_mode: SlowModeIn


class ModerationList(BaseModel):
    actions: list[dict[str, Any]]
