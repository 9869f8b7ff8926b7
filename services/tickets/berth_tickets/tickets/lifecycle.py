"""A ticket's transitions, shared by the customer's API, staff's, email and the beats.

Every transition runs on a ticket row the caller locked (`get_for_update`), moves the SLA
clock (berth_tickets.sla), records a timeline event and queues the notifications it owes in
the same transaction.

    open ──staff reply──▶ waiting_customer ──customer message──▶ open
      │                        │ (auto-close after TICKETS_AUTO_CLOSE_HOURS)
      └──────── close ─────────┴──▶ closed ──reopen──▶ open
    any active ──merge──▶ merged (final)
"""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict
from berth_tickets.config import TicketsSettings
from berth_tickets.enums import (
    ACTIVE_STATUSES,
    AuthorKind,
    EventKind,
    MessageVia,
    NotificationKind,
    TicketStatus,
)
from berth_tickets.models import Ticket, TicketMessage
from berth_tickets.notify.service import notify
from berth_tickets.sla import apply
from berth_tickets.sla import service as sla
from berth_tickets.tickets.dao import EventDAO, MessageDAO


class TicketNotActive(Conflict):
    """The ticket is closed or merged: reopen it (or write on the one it joined)."""

    code = "ticket_not_active"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def require_active(ticket: Ticket) -> None:
    if ticket.status not in ACTIVE_STATUSES:
        raise TicketNotActive(
            f"The ticket is {ticket.status}",
            details={"status": ticket.status},
        )


async def set_status(
    session: AsyncSession,
    ticket: Ticket,
    status: TicketStatus,
    *,
    at: datetime,
    actor_id: uuid.UUID | None,
    kind: EventKind = EventKind.STATUS_CHANGED,
) -> bool:
    """Move an active ticket between open, waiting_customer and closed; False when it is in
    that status already. The clock pauses while waiting, resumes on open, stops on close."""
    if ticket.status == status:
        return False
    require_active(ticket)
    if status not in (TicketStatus.OPEN, TicketStatus.WAITING_CUSTOMER, TicketStatus.CLOSED):
        raise InvalidTransition(f"A ticket cannot be set to {status}")
    policy = await apply.policy_of(session, ticket)
    clock = sla.resume(apply.clock_of(ticket), at, apply.calendar_of(policy))
    previous = ticket.status
    if status == TicketStatus.WAITING_CUSTOMER:
        sla.pause(clock, at)
        ticket.waiting_since = at
    else:
        ticket.waiting_since = None
    if status == TicketStatus.CLOSED:
        clock = sla.stop(clock)
        ticket.closed_at = at
    apply.store(ticket, clock)
    ticket.status = status
    ticket.updated_at = at
    await session.flush()
    await EventDAO(session).record(
        ticket.id, kind, actor_id=actor_id, data={"from": previous, "to": status}
    )
    return True


async def add_message(
    session: AsyncSession,
    ticket: Ticket,
    *,
    author_kind: AuthorKind,
    author_id: uuid.UUID | None,
    body: str,
    at: datetime,
    via: MessageVia = MessageVia.WEB,
    email_message_id: str | None = None,
) -> TicketMessage:
    message = await MessageDAO(session).create(
        ticket_id=ticket.id,
        author_kind=author_kind,
        author_id=author_id,
        body=body,
        via=via,
        email_message_id=email_message_id,
        created_at=at,
    )
    ticket.updated_at = at
    return message


async def customer_wrote(
    session: AsyncSession,
    settings: TicketsSettings,
    ticket: Ticket,
    body: str,
    *,
    at: datetime,
    via: MessageVia = MessageVia.WEB,
    email_message_id: str | None = None,
) -> TicketMessage:
    """The customer's message on an active ticket: the desk owes the next response, and a
    ticket that waited on the customer is open again (its clock runs)."""
    require_active(ticket)
    message = await add_message(
        session,
        ticket,
        author_kind=AuthorKind.CUSTOMER,
        author_id=ticket.owner_id,
        body=body,
        at=at,
        via=via,
        email_message_id=email_message_id,
    )
    await set_status(session, ticket, TicketStatus.OPEN, at=at, actor_id=ticket.owner_id)
    policy = await apply.policy_of(session, ticket)
    if policy is not None:
        clock = apply.clock_of(ticket)
        had_next = clock.next_response_due_at is not None
        sla.customer_wrote(clock, at, policy, answered=ticket.last_staff_reply_at is not None)
        if not had_next and clock.next_response_due_at is not None:
            ticket.next_response_breached_at = None  # a new window, not yet breached
        apply.store(ticket, clock)
    ticket.last_customer_message_at = at
    await session.flush()
    if ticket.assignee_id is not None:
        await notify(
            session,
            ticket,
            NotificationKind.CUSTOMER_REPLIED,
            settings=settings,
            recipient_id=ticket.assignee_id,
            key=str(message.id),
            detail=body,
        )
    return message


async def staff_replied(
    session: AsyncSession,
    settings: TicketsSettings,
    ticket: Ticket,
    body: str,
    *,
    author_id: uuid.UUID,
    at: datetime,
    then: TicketStatus = TicketStatus.WAITING_CUSTOMER,
) -> TicketMessage:
    """A public staff reply: meets the first/next response, then the ticket waits on the
    customer (or stays open, or closes: `then`)."""
    require_active(ticket)
    message = await add_message(
        session, ticket, author_kind=AuthorKind.STAFF, author_id=author_id, body=body, at=at
    )
    clock = sla.staff_replied(apply.clock_of(ticket))
    apply.store(ticket, clock)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = at
    ticket.last_staff_reply_at = at
    await session.flush()
    await set_status(session, ticket, then, at=at, actor_id=author_id)
    await notify(
        session,
        ticket,
        NotificationKind.STAFF_REPLIED,
        settings=settings,
        recipient_id=ticket.owner_id,
        key=str(message.id),
        detail=body,
    )
    return message


async def reopen(
    session: AsyncSession, ticket: Ticket, *, at: datetime, actor_id: uuid.UUID | None
) -> None:
    """A closed ticket is open again with fresh windows (a merged one never reopens)."""
    if ticket.status != TicketStatus.CLOSED:
        raise InvalidTransition(f"Only a closed ticket reopens; this one is {ticket.status}")
    policy = await apply.policy_of(session, ticket)
    clock = apply.clock_of(ticket)
    if policy is not None:
        clock = sla.restart(at, policy, clock)
        ticket.next_response_breached_at = None
        ticket.resolution_breached_at = None
    apply.store(ticket, clock)
    ticket.status = TicketStatus.OPEN
    ticket.closed_at = None
    ticket.waiting_since = None
    ticket.rating = None
    ticket.rating_comment = None
    ticket.rated_at = None
    ticket.reopened_count += 1
    ticket.updated_at = at
    await session.flush()
    await EventDAO(session).record(
        ticket.id, EventKind.REOPENED, actor_id=actor_id, data={"count": ticket.reopened_count}
    )
