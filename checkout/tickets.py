"""Customer service: tickets on an order, between its buyer and staff.

A ticket is ``open`` while it waits for staff (just opened, or the buyer wrote last),
``answered`` once staff wrote last, and ``closed`` when either side closes it; a closed
ticket takes no more messages (``TicketClosed``: open a new one). Each change locks the
ticket's row, so two messages at once are both kept, in order, and the status follows
the last. Whatever staff do to a ticket (a reply, closing it) reaches the buyer's
sockets as a private ``ticket`` frame after the commit. Who may act on a ticket is the
caller's business (``app``): here a message is the buyer's or staff's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from checkout.errors import TicketClosed, TicketNotFound
from checkout.models import Ticket, TicketMessage, TicketStatus
from checkout.ports import UnitOfWork
from common.times import iso_utc, utcnow


@dataclass(frozen=True)
class Author:
    id: int
    username: str
    staff: bool  # staff (or an admin) rather than the order's buyer


def message_view(m: TicketMessage) -> dict[str, Any]:
    return {"by": m.username, "staff": m.staff, "text": m.text, "at": iso_utc(m.at)}


def ticket_view(t: Ticket, messages: Sequence[TicketMessage]) -> dict[str, Any]:
    """The ticket as its buyer and staff see it, messages oldest first."""
    return {
        "id": t.id, "order_id": t.order_id, "buyer_id": t.buyer_id, "status": t.status,
        "messages": [message_view(m) for m in messages],
        "created_at": iso_utc(t.created_at), "updated_at": iso_utc(t.updated_at),
    }  # fmt: skip


async def open_ticket(
    unit: UnitOfWork, order_id: int, buyer_id: int, author: Author, text: str
) -> dict[str, Any]:
    """A new ticket on the order of ``buyer_id``, with its first message (``author``'s:
    the buyer, or an admin acting for them)."""
    now = utcnow()
    ticket = Ticket(order_id=order_id, buyer_id=buyer_id, created_at=now, updated_at=now)
    unit.session.add(ticket)
    await unit.session.flush()
    message = _message(ticket, author, text, now)
    unit.session.add(message)
    await unit.session.flush()
    return ticket_view(ticket, [message])


async def add_message(
    unit: UnitOfWork, ticket_id: int, author: Author, text: str
) -> dict[str, Any]:
    """Add a message; the status follows who wrote it. Refused on a closed ticket."""
    ticket = await _lock(unit.session, ticket_id)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosed("this ticket is closed: open a new one", ticket_id=ticket_id)
    now = utcnow()
    ticket.status = TicketStatus.ANSWERED if author.staff else TicketStatus.OPEN
    ticket.updated_at = now
    unit.session.add_all([ticket, _message(ticket, author, text, now)])
    await unit.session.flush()
    return await _told(unit, ticket, author)


async def close(unit: UnitOfWork, ticket_id: int, author: Author) -> dict[str, Any]:
    """Close the ticket (closing a closed one changes nothing)."""
    ticket = await _lock(unit.session, ticket_id)
    if ticket.status == TicketStatus.CLOSED:
        return ticket_view(ticket, await messages_of(unit.session, ticket_id))
    ticket.status, ticket.updated_at = TicketStatus.CLOSED, utcnow()
    unit.session.add(ticket)
    await unit.session.flush()
    return await _told(unit, ticket, author)


async def _told(unit: UnitOfWork, ticket: Ticket, author: Author) -> dict[str, Any]:
    """The ticket's view; staff's doing is also told to the buyer (after the commit)."""
    view = ticket_view(ticket, await messages_of(unit.session, ticket.id or 0))
    if author.staff:
        unit.announcer.tell(ticket.buyer_id, "ticket", {"ticket": view})
    return view


def _message(ticket: Ticket, author: Author, text: str, at: Any) -> TicketMessage:
    return TicketMessage(ticket_id=ticket.id or 0, user_id=author.id, username=author.username,
                         staff=author.staff, text=text, at=at)  # fmt: skip


async def _lock(session: AsyncSession, ticket_id: int) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
    ticket = (await session.exec(query.execution_options(populate_existing=True))).first()
    if ticket is None:
        raise TicketNotFound("ticket not found", ticket_id=ticket_id)
    return ticket


async def get(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound("ticket not found", ticket_id=ticket_id)
    return ticket


async def messages_of(session: AsyncSession, ticket_id: int) -> Sequence[TicketMessage]:
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
    return (await session.exec(query.order_by(col(TicketMessage.id)))).all()


async def listing(
    session: AsyncSession, *, status: str | None, buyer_id: int | None, limit: int, offset: int,
    order_id: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Tickets, most recently changed first: all (staff) or one buyer's, of one status,
    about one order."""
    query = select(Ticket)
    if order_id is not None:
        query = query.where(Ticket.order_id == order_id)
    if status is not None:
        query = query.where(Ticket.status == status)
    if buyer_id is not None:
        query = query.where(Ticket.buyer_id == buyer_id)
    query = query.order_by(col(Ticket.updated_at).desc(), col(Ticket.id).desc())
    found = (await session.exec(query.offset(offset).limit(limit))).all()
    ids = [t.id for t in found]
    rows = (
        await session.exec(
            select(TicketMessage)
            .where(col(TicketMessage.ticket_id).in_(ids))
            .order_by(col(TicketMessage.id))
        )
    ).all()
    by_ticket: dict[int, list[TicketMessage]] = {}
    for m in rows:
        by_ticket.setdefault(m.ticket_id, []).append(m)
    return [ticket_view(t, by_ticket.get(t.id or 0, [])) for t in found]
