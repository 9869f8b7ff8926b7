"""The queries of notifications: who works a department, whether a notice exists."""

import uuid

from sqlalchemy import select

from berth_common.dao import BaseDAO
from berth_tickets.models import DepartmentAgent


class AgentDAO(BaseDAO[DepartmentAgent]):
    model = DepartmentAgent

    async def active_agents(self, department_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = (
            select(DepartmentAgent.agent_id)
            .where(DepartmentAgent.department_id == department_id, DepartmentAgent.is_active)
            .order_by(DepartmentAgent.agent_id)
        )
        return list((await self.session.execute(stmt)).scalars().all())
