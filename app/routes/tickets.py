"""Customer service: tickets on orders between their buyers and staff (contract:
Fulfillment v2). A ticket is seen only by its buyer and staff (admins too): anyone else
gets 404, as for an order that is not theirs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import User
from app.auth import require_user
from app.errors import ApiError
from app.http import (
    PAGE,
    enum_param,
    int_param,
    operation,
    page,
    parse_body,
    path_id,
    query_int,
    respond,
    state,
)
from app.permissions import Action, allowed
from app.routes.orders import visible_order
from app.state import AppState
from app.ticket_schemas import TicketEnvelope, TicketIn, TicketList
from checkout import tickets
from checkout.models import TicketStatus
from checkout.tickets import Author

_STATUSES = ", ".join(s.value for s in TicketStatus)


def _author(user: User) -> Author:
    return Author(user.uid, user.username, staff=allowed(user, Action.FULFIL))


async def _mine_or_staff(st: AppState, user: User, ticket_id: int) -> None:
    """404 unless ``user`` is the ticket's buyer or staff."""
    async with st.db.read() as session:
        ticket = await tickets.get(session, ticket_id)
    if ticket.buyer_id != user.uid and not allowed(user, Action.FULFIL):
        raise ApiError(404, "not_found", "ticket not found")


def _answer(view: dict[str, Any], status: int = 200) -> Response:
    return respond(TicketEnvelope.model_validate({"ticket": view}), status)


@operation("Open a support ticket on your order", auth=True, body=TicketIn,
           responses={201: TicketEnvelope, 401: None, 403: None, 404: None, 422: None},
           tags=("tickets",))  # fmt: skip
async def open_one(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    order = await visible_order(st, user, path_id(request, "order"), Action.OPEN_TICKET)
    body = await parse_body(request, TicketIn)
    async with st.commerce.transaction() as unit:
        view = await tickets.open_ticket(
            unit, order.id or 0, order.buyer_id, _author(user), body.text
        )
    return _answer(view, 201)


@operation("Write to a ticket (its buyer, staff); staff replies reach the buyer's sockets",
           auth=True, body=TicketIn,
           responses={201: TicketEnvelope, 401: None, 404: None, 409: None, 422: None},
           tags=("tickets",))  # fmt: skip
async def write(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    ticket_id = path_id(request, "ticket")
    await _mine_or_staff(st, user, ticket_id)
    body = await parse_body(request, TicketIn)
    async with st.commerce.transaction() as unit:
        view = await tickets.add_message(unit, ticket_id, _author(user), body.text)
    return _answer(view, 201)


@operation("Close a ticket (its buyer, staff)", auth=True,
           responses={200: TicketEnvelope, 401: None, 404: None}, tags=("tickets",))  # fmt: skip
async def close(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    ticket_id = path_id(request, "ticket")
    await _mine_or_staff(st, user, ticket_id)
    async with st.commerce.transaction() as unit:
        view = await tickets.close(unit, ticket_id, _author(user))
    return _answer(view)


@operation("One ticket with its messages (its buyer, staff)", auth=True,
           responses={200: TicketEnvelope, 401: None, 404: None}, tags=("tickets",))  # fmt: skip
async def read(request: Request) -> Response:
    user = await require_user(request)
    st = state(request)
    ticket_id = path_id(request, "ticket")
    await _mine_or_staff(st, user, ticket_id)
    async with st.db.read() as session:
        ticket = await tickets.get(session, ticket_id)
        messages = await tickets.messages_of(session, ticket_id)
    return _answer(tickets.ticket_view(ticket, messages))


@operation("Tickets, most recently changed first: staff see all (the inbox), a buyer "
           "their own", auth=True, responses={200: TicketList, 401: None, 422: None},
           query={"status": enum_param("only tickets in this status",
                                       (s.value for s in TicketStatus)),
                  "order_id": int_param("only tickets about this order", low=1), **PAGE},
           tags=("tickets",))  # fmt: skip
async def listing(request: Request) -> Response:
    user = await require_user(request)
    raw = request.query_params.get("status") or None
    if raw is not None and raw not in {s.value for s in TicketStatus}:
        raise ApiError(422, "validation_error", "unknown status",
                       fields={"status": f"must be one of {_STATUSES}"})  # fmt: skip
    limit, offset = page(request)
    order_id = query_int(request, "order_id", low=1)
    buyer_id = None if allowed(user, Action.FULFIL) else user.uid
    async with state(request).db.read() as session:
        found = await tickets.listing(session, status=raw, buyer_id=buyer_id, limit=limit,
                                      offset=offset, order_id=order_id)  # fmt: skip
    return respond(TicketList.model_validate({"tickets": found}))


routes = [
    Route("/api/orders/{id}/tickets", open_one, methods=["POST"]),
    Route("/api/tickets", listing, methods=["GET"]),
    Route("/api/tickets/{id}", read, methods=["GET"]),
    Route("/api/tickets/{id}/messages", write, methods=["POST"]),
    Route("/api/tickets/{id}/close", close, methods=["POST"]),
]
