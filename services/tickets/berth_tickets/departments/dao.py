"""Queries of departments, their agents (round-robin) and canned replies."""

import uuid
from datetime import datetime

from sqlalchemy import or_, select

from berth_common.dao import BaseDAO
from berth_tickets.models import CannedReply, Department, DepartmentAgent


class DepartmentDAO(BaseDAO[Department]):
    model = Department
    not_found_message = "Department not found"
    default_sort = (Department.name, Department.id)

    async def by_slug(self, slug: str) -> Department | None:
        return await self.get_by(Department.slug == slug)

    async def all(self, *, active_only: bool) -> list[Department]:
        stmt = select(Department).order_by(Department.name)
        if active_only:
            stmt = stmt.where(Department.is_active.is_(True))
        return list((await self.session.execute(stmt)).scalars().all())

    async def lock(self, department_id: uuid.UUID) -> Department | None:
        """The department row locked: one round-robin pick at a time per department."""
        stmt = select(Department).where(Department.id == department_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()


class AgentDAO(BaseDAO[DepartmentAgent]):
    model = DepartmentAgent

    async def of_department(self, department_id: uuid.UUID) -> list[DepartmentAgent]:
        stmt = (
            select(DepartmentAgent)
            .where(DepartmentAgent.department_id == department_id)
            .order_by(DepartmentAgent.created_at)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def one(self, department_id: uuid.UUID, agent_id: uuid.UUID) -> DepartmentAgent | None:
        return await self.session.get(DepartmentAgent, (department_id, agent_id))

    async def next_in_rotation(self, department_id: uuid.UUID) -> DepartmentAgent | None:
        """The active agent assigned longest ago (never assigned first); the caller holds
        the department's lock."""
        stmt = (
            select(DepartmentAgent)
            .where(
                DepartmentAgent.department_id == department_id,
                DepartmentAgent.is_active.is_(True),
            )
            .order_by(
                DepartmentAgent.last_assigned_at.asc().nulls_first(),
                DepartmentAgent.created_at,
                DepartmentAgent.agent_id,
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def touch(self, agent: DepartmentAgent, at: datetime) -> None:
        agent.last_assigned_at = at
        await self.session.flush()


class CannedReplyDAO(BaseDAO[CannedReply]):
    model = CannedReply
    not_found_message = "Canned reply not found"
    default_sort = (CannedReply.title, CannedReply.id)

    async def for_department(self, department_id: uuid.UUID | None) -> list[CannedReply]:
        stmt = select(CannedReply).order_by(CannedReply.title, CannedReply.id)
        if department_id is not None:
            stmt = stmt.where(
                or_(
                    CannedReply.department_id == department_id,
                    CannedReply.department_id.is_(None),
                )
            )
        return list((await self.session.execute(stmt)).scalars().all())
