"""A ticket's SLA columns through the pure clock functions (berth_tickets.sla.service)."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.enums import SlaState
from berth_tickets.models import SlaPolicy, Ticket
from berth_tickets.sla import service as sla
from berth_tickets.sla.dao import CalendarDAO, SlaPolicyDAO

TARGET_COLUMNS = {
    "first_response": ("first_response_due_at", "first_response_breached_at"),
    "next_response": ("next_response_due_at", "next_response_breached_at"),
    "resolution": ("resolution_due_at", "resolution_breached_at"),
}


async def policy_for(session: AsyncSession, plan_tier: str, priority: str) -> SlaPolicy | None:
    return await SlaPolicyDAO(session).for_ticket(plan_tier, priority)


async def as_policy(session: AsyncSession, row: SlaPolicy | None) -> sla.Policy | None:
    if row is None:
        return None
    calendar = None
    if row.calendar_id is not None:
        found = await CalendarDAO(session).get(row.calendar_id)
        if found is not None:
            calendar = sla.Calendar.build(found.timezone, found.weekly_hours, found.holidays)
    return sla.Policy(
        row.first_response_minutes, row.next_response_minutes, row.resolution_minutes, calendar
    )


async def policy_of(session: AsyncSession, ticket: Ticket) -> sla.Policy | None:
    if ticket.sla_policy_id is None:
        return None
    return await as_policy(session, await SlaPolicyDAO(session).get(ticket.sla_policy_id))


def clock_of(ticket: Ticket) -> sla.Clock:
    return sla.Clock(
        first_response_due_at=ticket.first_response_due_at,
        next_response_due_at=ticket.next_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        paused_since=ticket.paused_since,
        paused_seconds=ticket.paused_seconds or 0,
    )


def store(ticket: Ticket, clock: sla.Clock) -> None:
    ticket.first_response_due_at = clock.first_response_due_at
    ticket.next_response_due_at = clock.next_response_due_at
    ticket.resolution_due_at = clock.resolution_due_at
    ticket.paused_since = clock.paused_since
    ticket.paused_seconds = clock.paused_seconds


def calendar_of(policy: sla.Policy | None) -> sla.Calendar | None:
    return policy.calendar if policy is not None else None


def summary(ticket: Ticket, policy: sla.Policy | None, now: datetime, at_risk_ratio: float) -> dict:
    """What staff see: the state, the due moments, business seconds left, the breaches."""
    clock = clock_of(ticket)
    return {
        "state": sla.state(clock, now, policy, at_risk_ratio)
        if policy is not None or clock.running()
        else SlaState.OK,
        "paused": ticket.paused_since is not None,
        "due": clock.running(),
        "seconds_left": sla.time_left(clock, now, calendar_of(policy)),
        "breached": {
            name: getattr(ticket, breached)
            for name, (_, breached) in TARGET_COLUMNS.items()
            if getattr(ticket, breached) is not None
        },
    }
