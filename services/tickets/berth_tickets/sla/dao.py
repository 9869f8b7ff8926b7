"""Queries of SLA policies and business calendars."""

import uuid

from sqlalchemy import select

from berth_common.dao import BaseDAO
from berth_tickets.models import BusinessCalendar, SlaPolicy

#: the tier whose policies apply to a plan tier that has none of its own
FALLBACK_TIER = "default"


class SlaPolicyDAO(BaseDAO[SlaPolicy]):
    model = SlaPolicy
    not_found_message = "SLA policy not found"
    default_sort = (SlaPolicy.plan_tier, SlaPolicy.priority)

    async def for_ticket(self, plan_tier: str, priority: str) -> SlaPolicy | None:
        """The tier's policy for the priority, else the fallback tier's, else none."""
        stmt = (
            select(SlaPolicy)
            .where(
                SlaPolicy.plan_tier.in_((plan_tier, FALLBACK_TIER)),
                SlaPolicy.priority == priority,
            )
            # the tier's own first
            .order_by((SlaPolicy.plan_tier == FALLBACK_TIER).asc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def all(self) -> list[SlaPolicy]:
        stmt = select(SlaPolicy).order_by(*self.default_sort)
        return list((await self.session.execute(stmt)).scalars().all())

    async def using_calendar(self, calendar_id: uuid.UUID) -> list[SlaPolicy]:
        stmt = select(SlaPolicy).where(SlaPolicy.calendar_id == calendar_id)
        return list((await self.session.execute(stmt)).scalars().all())


class CalendarDAO(BaseDAO[BusinessCalendar]):
    model = BusinessCalendar
    not_found_message = "Calendar not found"

    async def all(self) -> list[BusinessCalendar]:
        stmt = select(BusinessCalendar).order_by(BusinessCalendar.name)
        return list((await self.session.execute(stmt)).scalars().all())

    async def in_use(self, calendar_id) -> bool:
        stmt = select(SlaPolicy.id).where(SlaPolicy.calendar_id == calendar_id).limit(1)
        return (await self.session.execute(stmt)).first() is not None
