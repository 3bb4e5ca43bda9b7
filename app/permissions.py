"""Who may do what: every permission rule of livecart, in one table.

Handlers (HTTP and WebSocket alike) call ``authorize`` with an action and the
facts about the resource; nothing else decides access. ``admin`` passes every
rule. A missing user is 401, a user without the right is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.accounts import Role, User
from app.errors import ApiError


class Action(StrEnum):
    CREATE_PRODUCT = "create_product"
    EDIT_PRODUCT = "edit_product"
    CREATE_LIVE = "create_live"
    RUN_LIVE = "run_live"  # start, end
    MANAGE_MODERATORS = "manage_moderators"
    MODERATE_LIVE = "moderate_live"  # pin, unpin, stats, list moderators
    PLACE_ORDER = "place_order"
    VIEW_ORDER = "view_order"  # its buyer, the product's creator, staff
    CANCEL_ORDER = "cancel_order"  # its buyer, staff
    RETURN_ORDER = "return_order"  # its buyer
    OPEN_TICKET = "open_ticket"  # its buyer
    FULFIL = "fulfil"  # staff: the fulfillment board, transitions, dead letters
    MANAGE_ACCOUNTS = "manage_accounts"  # admin only: disable, enable, change roles
    MANAGE_WAREHOUSES = "manage_warehouses"  # admin only: add warehouses
    EDIT_INVENTORY = "edit_inventory"  # the product's creator, staff: units per warehouse
    MANAGE_WEBHOOKS = "manage_webhooks"  # creators: their own endpoints


@dataclass(frozen=True)
class Facts:
    """What a rule may look at: who owns the resource, whether the caller moderates it."""

    owner_id: int | None = None
    is_moderator: bool = False
    buyer_id: int | None = None


def _is_owner(user: User, facts: Facts) -> bool:
    return facts.owner_id is not None and user.id == facts.owner_id


def _is_buyer(user: User, facts: Facts) -> bool:
    return facts.buyer_id is not None and user.id == facts.buyer_id


def _is_staff(user: User, _facts: Facts) -> bool:
    return user.role == Role.STAFF


Rule = Callable[[User, Facts], bool]

RULES: dict[Action, Rule] = {
    Action.CREATE_PRODUCT: lambda user, _f: user.role == Role.CREATOR,
    Action.EDIT_PRODUCT: _is_owner,
    Action.CREATE_LIVE: lambda user, _f: user.role == Role.CREATOR,
    Action.RUN_LIVE: _is_owner,
    Action.MANAGE_MODERATORS: _is_owner,
    Action.MODERATE_LIVE: lambda user, facts: _is_owner(user, facts) or facts.is_moderator,
    Action.PLACE_ORDER: lambda _user, _facts: True,
    Action.VIEW_ORDER: lambda u, f: _is_buyer(u, f) or _is_owner(u, f) or _is_staff(u, f),
    Action.CANCEL_ORDER: lambda u, f: _is_buyer(u, f) or _is_staff(u, f),
    Action.RETURN_ORDER: _is_buyer,
    Action.OPEN_TICKET: _is_buyer,
    Action.FULFIL: _is_staff,
    Action.MANAGE_ACCOUNTS: lambda _user, _facts: False,  # admins pass every rule
    Action.MANAGE_WAREHOUSES: lambda _user, _facts: False,
    Action.EDIT_INVENTORY: lambda u, f: _is_owner(u, f) or _is_staff(u, f),
    Action.MANAGE_WEBHOOKS: lambda user, _f: user.role == Role.CREATOR,
}


def allowed(user: User | None, action: Action, facts: Facts = Facts()) -> bool:
    if user is None:
        return False
    return user.role == Role.ADMIN or RULES[action](user, facts)


def authorize(user: User | None, action: Action, facts: Facts = Facts()) -> User:
    """Return ``user`` if it may perform ``action``; otherwise raise 401 or 403."""
    if user is None:
        raise ApiError(
            401, "authentication_required", "sign in first", headers={"WWW-Authenticate": "Bearer"}
        )
    if not allowed(user, action, facts):
        raise ApiError(403, "forbidden", f"you may not {action.value.replace('_', ' ')}")
    return user
