"""Queries of tickets, their public messages and their events.

A customer's queries always filter on `owner_id`: another person's ticket is not found.
Search reads `tickets.subject_tsv` and `ticket_messages.body_tsv` only (never notes).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_tickets.enums import TicketStatus
from berth_tickets.incidents.models import TicketIncidentLink
from berth_tickets.models import (
    TS_CONFIG,
    Attachment,
    InternalNote,
    Ticket,
    TicketEvent,
    TicketMessage,
)


def search_condition(query: str, owner_id: uuid.UUID | None = None) -> Any:
    """Tickets whose subject or one of whose public messages matches `query` (web search
    syntax: words, "phrases", -not, or), of `owner_id` when given.

    One `IN (... UNION ...)` of ticket ids rather than an OR of two tests: PostgreSQL turns it
    into a semi-join and picks, from its statistics of the words, between the GIN indexes and
    the owner's tickets (an OR would rescan the message matches for every ticket once they
    outgrow work_mem)."""
    tsquery = func.websearch_to_tsquery(TS_CONFIG, query)
    by_subject = select(Ticket.id).where(Ticket.subject_tsv.op("@@")(tsquery))
    by_message = select(TicketMessage.ticket_id).where(TicketMessage.body_tsv.op("@@")(tsquery))
    if owner_id is not None:
        owned = aliased(Ticket)
        by_subject = by_subject.where(Ticket.owner_id == owner_id)
        by_message = by_message.join(owned, owned.id == TicketMessage.ticket_id).where(
            owned.owner_id == owner_id
        )
    return Ticket.id.in_(union(by_subject, by_message))


class TicketDAO(BaseDAO[Ticket]):
    model = Ticket
    not_found_message = "Ticket not found"
    sortable = {
        "updated_at": Ticket.updated_at,
        "created_at": Ticket.created_at,
        "number": Ticket.number,
        "priority": Ticket.priority,
    }
    default_sort = (Ticket.updated_at.desc(), Ticket.id)

    async def get_for_update(self, ticket_id: uuid.UUID) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def owned_for_update(self, ticket_id: uuid.UUID, owner_id: uuid.UUID) -> Ticket | None:
        stmt = (
            select(Ticket)
            .where(Ticket.id == ticket_id, Ticket.owner_id == owner_id)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def owned(self, ticket_id: uuid.UUID, owner_id: uuid.UUID) -> Ticket | None:
        return await self.get_by(Ticket.id == ticket_id, Ticket.owner_id == owner_id)

    async def by_number(self, number: int) -> Ticket | None:
        return await self.get_by(Ticket.number == number)

    async def count_active_of(self, owner_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Ticket.owner_id == owner_id,
            Ticket.status.in_((TicketStatus.OPEN, TicketStatus.WAITING_CUSTOMER)),
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def page_of_owner(
        self, params: PageParams, owner_id: uuid.UUID, where: Sequence[Any], query: str | None
    ) -> tuple[list[Ticket], int]:
        conditions = [Ticket.owner_id == owner_id, *where]
        if query:
            conditions.append(search_condition(query, owner_id))
        return await self.list(params, *conditions)

    def _due_waiting(self, cutoff: datetime) -> Select[tuple[Ticket]]:
        return select(Ticket).where(
            Ticket.status == TicketStatus.WAITING_CUSTOMER, Ticket.waiting_since <= cutoff
        )

    async def waiting_since_before(self, cutoff: datetime, limit: int) -> list[Ticket]:
        """Tickets waiting on their customer since before `cutoff`, locked (others skip them)."""
        stmt = (
            self._due_waiting(cutoff)
            .order_by(Ticket.waiting_since)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def newly_breached(self, now: datetime, limit: int) -> list[Ticket]:
        """Open tickets (the clock runs) with a due moment passed and not yet recorded."""
        stmt = (
            select(Ticket)
            .where(
                Ticket.status == TicketStatus.OPEN,
                Ticket.paused_since.is_(None),
                or_(
                    and_(
                        Ticket.first_response_due_at <= now,
                        Ticket.first_response_breached_at.is_(None),
                    ),
                    and_(
                        Ticket.next_response_due_at <= now,
                        Ticket.next_response_breached_at.is_(None),
                    ),
                    and_(
                        Ticket.resolution_due_at <= now,
                        Ticket.resolution_breached_at.is_(None),
                    ),
                ),
            )
            .order_by(Ticket.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def move_children(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        """A merge: the source's messages, notes and attachments now belong to the target."""
        for model in (TicketMessage, InternalNote, Attachment):
            await self.session.execute(
                update(model).where(model.ticket_id == source_id).values(ticket_id=target_id)
            )
        await self.session.flush()

    async def linked_to_incident(self, incident_id: uuid.UUID) -> list[Ticket]:
        stmt = (
            select(Ticket)
            .join(TicketIncidentLink, TicketIncidentLink.ticket_id == Ticket.id)
            .where(TicketIncidentLink.incident_id == incident_id)
            .order_by(Ticket.created_at)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class MessageDAO(BaseDAO[TicketMessage]):
    model = TicketMessage

    async def of_ticket(self, ticket_id: uuid.UUID) -> list[TicketMessage]:
        stmt = (
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.created_at, TicketMessage.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class EventDAO(BaseDAO[TicketEvent]):
    model = TicketEvent

    async def record(
        self,
        ticket_id: uuid.UUID,
        kind: str,
        *,
        actor_id: uuid.UUID | None = None,
        data: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Add an event; False when one with the same `dedupe_key` exists already."""
        stmt = (
            pg_insert(TicketEvent)
            .values(
                ticket_id=ticket_id,
                kind=kind,
                actor_id=actor_id,
                data=data or {},
                dedupe_key=dedupe_key,
            )
            .on_conflict_do_nothing(index_elements=["ticket_id", "dedupe_key"])
            .returning(TicketEvent.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def of_ticket(self, ticket_id: uuid.UUID) -> list[TicketEvent]:
        stmt = (
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.created_at, TicketEvent.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())
