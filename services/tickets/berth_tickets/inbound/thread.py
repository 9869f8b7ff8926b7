"""A customer's reply by email joins its ticket's thread.

The ticket's transitions belong to the ticket lifecycle (tickets-core's
`berth_tickets.tickets.lifecycle`: `reopen`, `customer_wrote`, which also move the SLA
clock); until that module is on this branch this is the same transition without the SLA
part: a closed ticket reopens, a ticket waiting on its customer is open again, the message
is added (via email, with its Message-ID) and the assignee is told.
"""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.config import TicketsSettings
from berth_tickets.enums import (
    AuthorKind,
    EventKind,
    MessageVia,
    NotificationKind,
    TicketStatus,
)
from berth_tickets.inbound.dao import EventDAO, MessageDAO
from berth_tickets.models import Ticket, TicketMessage
from berth_tickets.notify.service import notify


async def customer_replied_by_email(
    session: AsyncSession,
    settings: TicketsSettings,
    ticket: Ticket,
    body: str,
    *,
    at: datetime,
    email_message_id: str,
) -> TicketMessage:
    """`ticket` is locked by the caller and neither merged nor someone else's."""
    if ticket.status == TicketStatus.CLOSED:
        ticket.status = TicketStatus.OPEN
        ticket.closed_at = None
        ticket.reopened_count += 1
        await EventDAO(session).create(
            ticket_id=ticket.id,
            kind=EventKind.REOPENED,
            actor_id=ticket.owner_id,
            data={"count": ticket.reopened_count, "via": MessageVia.EMAIL},
        )
    elif ticket.status == TicketStatus.WAITING_CUSTOMER:
        ticket.status = TicketStatus.OPEN
        await EventDAO(session).create(
            ticket_id=ticket.id,
            kind=EventKind.STATUS_CHANGED,
            actor_id=ticket.owner_id,
            data={"from": TicketStatus.WAITING_CUSTOMER, "to": TicketStatus.OPEN},
        )
    ticket.waiting_since = None
    message = await MessageDAO(session).create(
        ticket_id=ticket.id,
        author_kind=AuthorKind.CUSTOMER,
        author_id=ticket.owner_id,
        body=body,
        via=MessageVia.EMAIL,
        email_message_id=email_message_id,
        created_at=at,
    )
    ticket.last_customer_message_at = at
    ticket.updated_at = at
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
