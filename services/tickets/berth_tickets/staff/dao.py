"""Staff's queries: the queue (filters in SQL, paginated) and internal notes."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, cast, false, func, literal, or_, select

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_tickets.enums import SlaState, TicketStatus
from berth_tickets.models import InternalNote, SlaPolicy, Ticket
from berth_tickets.tickets.dao import TicketDAO, search_condition

_WINDOWS = (
    (Ticket.first_response_due_at, SlaPolicy.first_response_minutes),
    (Ticket.next_response_due_at, SlaPolicy.next_response_minutes),
    (Ticket.resolution_due_at, SlaPolicy.resolution_minutes),
)


def _known(condition: Any) -> Any:
    """NULL (no such window) reads as false, so a negation stays two-valued."""
    return func.coalesce(condition, false())


def _seconds(minutes: Any, ratio: float) -> Any:
    return cast(minutes * (ratio * 60), Float)


def sla_condition(state: SlaState, now: datetime, at_risk_ratio: float) -> Any:
    """The queue's SLA filter. Breached: the clock runs and a due moment passed. At risk:
    not breached, and a due moment is nearer than the ratio of its window (wall time: the
    exact business-time state is in each item's `sla`)."""
    running = and_(Ticket.status == TicketStatus.OPEN, Ticket.paused_since.is_(None))
    breached = and_(running, or_(*(_known(due <= now) for due, _ in _WINDOWS)))
    at_risk = or_(
        *(
            _known(
                and_(
                    due > now,
                    due
                    <= literal(now)
                    + func.make_interval(0, 0, 0, 0, 0, 0, _seconds(minutes, at_risk_ratio)),
                )
            )
            for due, minutes in _WINDOWS
        )
    )
    if state == SlaState.BREACHED:
        return breached
    if state == SlaState.AT_RISK:
        return and_(running, ~breached, at_risk)
    return or_(~running, and_(~breached, ~at_risk))


class QueueDAO(TicketDAO):
    async def queue(
        self,
        params: PageParams,
        *,
        where: list[Any],
        query: str | None,
        sla: tuple[SlaState, datetime, float] | None,
    ) -> tuple[list[Ticket], int]:
        stmt = select(Ticket)
        conditions = list(where)
        if sla is not None:
            stmt = stmt.outerjoin(SlaPolicy, SlaPolicy.id == Ticket.sla_policy_id)
            conditions.append(sla_condition(*sla))
        if query:
            conditions.append(search_condition(query))
        return await self.list(params, *conditions, stmt=stmt)


class NoteDAO(BaseDAO[InternalNote]):
    model = InternalNote

    async def of_ticket(self, ticket_id: uuid.UUID) -> list[InternalNote]:
        stmt = (
            select(InternalNote)
            .where(InternalNote.ticket_id == ticket_id)
            .order_by(InternalNote.created_at, InternalNote.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())
