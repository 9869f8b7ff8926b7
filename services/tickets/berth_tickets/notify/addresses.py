"""Staff's control of a ticket's signed reply addresses (berth_tickets.notify.tokens)."""

import uuid

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.enums import EventKind
from berth_tickets.tickets.dao import EventDAO, TicketDAO
from berth_tickets.tickets.service import TicketNotFound


async def revoke_reply_addresses(
    session: AsyncSession, ticket_id: uuid.UUID, staff_id: uuid.UUID
) -> int:
    """Every reply address handed out for the ticket stops working (a leaked notice, a
    forwarded thread); the next notice carries a new one. Returns the new version."""
    ticket = await TicketDAO(session).get_for_update(ticket_id)
    if ticket is None:
        raise TicketNotFound("Ticket not found")
    ticket.reply_token_version += 1
    await session.flush()
    await EventDAO(session).record(
        ticket.id,
        EventKind.REPLY_ADDRESSES_REVOKED,
        actor_id=staff_id,
        data={"version": ticket.reply_token_version},
    )
    logger.info("reply addresses of ticket {} revoked", ticket.id)
    return ticket.reply_token_version
