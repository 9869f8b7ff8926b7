"""A customer's reply by email joins its ticket's thread through the ticket lifecycle, as
a reply from the panel does: a closed ticket reopens (the desk's policy for a reply after
the close), then the message is the customer's (via email, with its Message-ID), the SLA
clock moves and the assignee is told."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.config import TicketsSettings
from berth_tickets.enums import MessageVia, TicketStatus
from berth_tickets.models import Ticket, TicketMessage
from berth_tickets.tickets import lifecycle


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
        await lifecycle.reopen(session, ticket, at=at, actor_id=ticket.owner_id)
    return await lifecycle.customer_wrote(
        session,
        settings,
        ticket,
        body,
        at=at,
        via=MessageVia.EMAIL,
        email_message_id=email_message_id,
    )
