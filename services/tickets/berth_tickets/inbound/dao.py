"""Every query of the inbound side: the raw mails, their recorded outcomes, and the ticket
and message lookups a reply needs."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from berth_common.dao import BaseDAO
from berth_tickets.inbound.models import InboundEmail, InboundRawEmail
from berth_tickets.models import Ticket, TicketMessage


class RawEmailDAO(BaseDAO[InboundRawEmail]):
    model = InboundRawEmail

    async def get_for_update(self, raw_id: uuid.UUID) -> InboundRawEmail | None:
        stmt = select(InboundRawEmail).where(InboundRawEmail.id == raw_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def unprocessed(
        self, received_after: datetime, received_before: datetime, limit: int
    ) -> list[uuid.UUID]:
        stmt = (
            select(InboundRawEmail.id)
            .where(
                InboundRawEmail.inbound_email_id.is_(None),
                InboundRawEmail.received_at > received_after,
                InboundRawEmail.received_at < received_before,
            )
            .order_by(InboundRawEmail.received_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def purge_processed(self, received_before: datetime, limit: int) -> int:
        doomed = (
            select(InboundRawEmail.id)
            .where(
                InboundRawEmail.inbound_email_id.is_not(None),
                InboundRawEmail.received_at < received_before,
            )
            .limit(limit)
        )
        result = await self.session.execute(
            delete(InboundRawEmail).where(InboundRawEmail.id.in_(doomed))
        )
        return result.rowcount or 0

    async def count_unprocessed(self) -> int:
        stmt = select(func.count()).where(InboundRawEmail.inbound_email_id.is_(None))
        return (await self.session.execute(stmt)).scalar_one()


class InboundEmailDAO(BaseDAO[InboundEmail]):
    model = InboundEmail
    default_sort = (InboundEmail.received_at.desc(), InboundEmail.id)
    sortable = {"received_at": InboundEmail.received_at}

    def outcome_filter(self, outcome: str | None) -> list[Any]:
        return [InboundEmail.outcome == outcome] if outcome else []


class ThreadDAO(BaseDAO[Ticket]):
    """The ticket a reply address names, locked for the reply; whether a mail is in a thread."""

    model = Ticket

    async def by_number_for_update(self, number: int) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.number == number).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def get_for_update(self, ticket_id: uuid.UUID) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def message_with_email_id(self, email_message_id: str) -> uuid.UUID | None:
        stmt = select(TicketMessage.id).where(TicketMessage.email_message_id == email_message_id)
        return (await self.session.execute(stmt)).scalars().first()
