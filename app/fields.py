"""Field types of request and response shapes, and the checks behind them.

Requests are validated strictly: a number sent as a string, a boolean sent as a
number, text with NUL or other control characters or bidirectional overrides,
or text that cannot be stored as UTF-8 is refused with 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
)

from common.times import iso_utc, utc, utcnow
from live.textnorm import has_bidi_control

MAX_ID = 2**31 - 1  # ids are 32-bit database integers
MAX_MONEY_CENTS = 1_000_000_000
MAX_STOCK = 1_000_000_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\t]")
# ISO 4217, built once: "ABC" has the shape of a currency code but is none.
CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
WAREHOUSE_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,15}")


def _storable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if has_bidi_control(value):  # would show the text in another order than stored
        raise ValueError("must not contain bidirectional override characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


def _single_line(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("must be a single line")
    return value


def _url(value: str) -> str:
    if not (value.startswith(("http://", "https://")) or value.startswith("/")):
        raise ValueError("must be an http(s) URL or a path starting with /")
    # Browsers read "//host" and "/\host" as another host, not a path on this one.
    if value.startswith(("//", "/\\")):
        raise ValueError("a path must not start with // or /\\ (that names another host)")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _letters(value: str) -> str:
    if not value.isalpha():
        raise ValueError("must be letters only, such as SOLD")
    return value


def _country(value: str) -> str:
    if value not in COUNTRIES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or DE")
    return value


def _upcoming(value: datetime) -> datetime:
    # A minute's grace for clocks; a year ahead is as far as a show is announced.
    late = (utcnow() - utc(value)).total_seconds()
    if late > 60:
        raise ValueError("must not be in the past")
    if -late > 366 * 24 * 3600:
        raise ValueError("must be within a year")
    return utc(value)


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code, such as USD or EUR")
    return value


# Length limits come before the content checks, so their messages speak of characters.
_STORABLE = AfterValidator(_storable)
_ONE_LINE = AfterValidator(_single_line)
Title = Annotated[StrictStr, Field(min_length=1, max_length=200), _STORABLE, _ONE_LINE]
Url = Annotated[
    StrictStr, Field(min_length=1, max_length=2048), _STORABLE, _ONE_LINE, AfterValidator(_url)
]
Description = Annotated[StrictStr, Field(max_length=5000), _STORABLE]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=500), _STORABLE]
# A support message: may span lines; not only blanks.
Message = Annotated[
    StrictStr, Field(min_length=1, max_length=2000), _STORABLE, AfterValidator(_not_blank)
]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200), _STORABLE, _ONE_LINE]
City = Annotated[StrictStr, Field(min_length=1, max_length=100), _STORABLE, _ONE_LINE]
PostalCode = Annotated[StrictStr, Field(min_length=1, max_length=20), _STORABLE, _ONE_LINE]
Short = Annotated[StrictStr, Field(min_length=1, max_length=64), _STORABLE, _ONE_LINE]
LoginName = Annotated[StrictStr, Field(max_length=64), _STORABLE, _ONE_LINE]
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
# A comment-to-buy keyword: 1-20 letters (any alphabet), matched in any case.
Keyword = Annotated[StrictStr, Field(min_length=1, max_length=20), AfterValidator(_letters)]
Cents = Annotated[StrictInt, Field(ge=0, le=MAX_MONEY_CENTS)]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]
# The enum tells API clients (and /openapi.json) the codes accepted, not just their shape.
Currency = Annotated[
    StrictStr,
    Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": sorted(CURRENCIES)}),
    AfterValidator(_currency),
]
USERNAME_RE = re.compile(r"[a-z0-9_]{3,32}")
Username = Annotated[StrictStr, Field(pattern=rf"^{USERNAME_RE.pattern}$")]
Password = Annotated[StrictStr, Field(min_length=8, max_length=1024)]
# A warehouse: capitals, digits, - and _, as it is printed on pick lists.
WarehouseCode = Annotated[StrictStr, Field(pattern=rf"^{WAREHOUSE_RE.pattern}$")]
Country = Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$"), AfterValidator(_country)]


UtcTime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str)]
# When a show is announced to start: ISO 8601 with a time zone, not in the past.
Upcoming = Annotated[AwareDatetime, AfterValidator(_upcoming)]


class RequestBody(BaseModel):
    """Base of request bodies: strict types, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(strict=True, extra="ignore", str_strip_whitespace=False)
