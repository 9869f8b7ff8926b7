"""The beat's auto-close: a ticket that has waited on its customer for longer than
TICKETS_AUTO_CLOSE_HOURS closes, with a system message in its thread, an `auto_closed` event
and one notice to the customer. Idempotent: only tickets still waiting are taken (SKIP
LOCKED), and a closed one is no longer waiting."""

from datetime import datetime, timedelta

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.config import TicketsSettings
from berth_tickets.enums import AuthorKind, EventKind, NotificationKind, TicketStatus
from berth_tickets.notify.service import notify
from berth_tickets.tickets import lifecycle
from berth_tickets.tickets.dao import TicketDAO

BATCH = 500


async def auto_close(session: AsyncSession, settings: TicketsSettings, now: datetime) -> int:
    cutoff = now - timedelta(hours=settings.auto_close_hours)
    closed = 0
    for ticket in await TicketDAO(session).waiting_since_before(cutoff, BATCH):
        message = await lifecycle.add_message(
            session,
            ticket,
            author_kind=AuthorKind.SYSTEM,
            author_id=None,
            body=(
                f"This ticket was closed after {settings.auto_close_hours} hours without an "
                "answer. Reopen it if you still need help."
            ),
            at=now,
        )
        await lifecycle.set_status(
            session, ticket, TicketStatus.CLOSED, at=now, actor_id=None, kind=EventKind.AUTO_CLOSED
        )
        await notify(
            session,
            ticket,
            NotificationKind.AUTO_CLOSED,
            settings=settings,
            recipient_id=ticket.owner_id,
            key=str(message.id),
        )
        closed += 1
    if closed:
        logger.info("{} ticket(s) closed after waiting on their customer", closed)
    return closed
