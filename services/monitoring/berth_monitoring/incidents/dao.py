"""Reads of incidents for their owner: pages, members, timeline (the checks write them)."""

import uuid
from typing import Any

from sqlalchemy import select

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_monitoring.models import Incident, IncidentEvent, IncidentMonitor, Monitor


class IncidentDAO(BaseDAO[Incident]):
    model = Incident
    not_found_message = "Incident not found"
    sortable = {"opened_at": Incident.opened_at, "resolved_at": Incident.resolved_at}
    default_sort = (Incident.opened_at.desc(), Incident.id)

    async def owned(self, owner_id: uuid.UUID, incident_id: uuid.UUID) -> Incident | None:
        return await self.get_by(Incident.id == incident_id, Incident.owner_id == owner_id)

    async def page(
        self,
        params: PageParams,
        owner_id: uuid.UUID,
        status: str | None = None,
        monitor_id: uuid.UUID | None = None,
    ) -> tuple[list[Incident], int]:
        where: list[Any] = [Incident.owner_id == owner_id]
        if status:
            where.append(Incident.status == status)
        if monitor_id:
            where.append(
                Incident.id.in_(
                    select(IncidentMonitor.incident_id).where(
                        IncidentMonitor.monitor_id == monitor_id
                    )
                )
            )
        return await self.list(params, *where)

    async def members(self, incident_id: uuid.UUID) -> list[tuple[IncidentMonitor, str | None]]:
        stmt = (
            select(IncidentMonitor, Monitor.name)
            .outerjoin(Monitor, Monitor.id == IncidentMonitor.monitor_id)
            .where(IncidentMonitor.incident_id == incident_id)
            .order_by(IncidentMonitor.down_at)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def timeline(self, incident_id: uuid.UUID, limit: int = 500) -> list[IncidentEvent]:
        stmt = (
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())
