"""Queries of status pages and what their public read shows."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select

from berth_common.dao import BaseDAO
from berth_monitoring.enums import IncidentStatus
from berth_monitoring.models import (
    Incident,
    IncidentMonitor,
    MaintenanceWindow,
    Monitor,
    StatusPage,
    StatusPageMonitor,
)


class StatusPageDAO(BaseDAO[StatusPage]):
    model = StatusPage
    not_found_message = "Status page not found"
    sortable = {"slug": StatusPage.slug, "created_at": StatusPage.created_at}
    default_sort = (StatusPage.created_at.desc(), StatusPage.id)

    async def owned(self, owner_id: uuid.UUID, page_id: uuid.UUID) -> StatusPage | None:
        return await self.get_by(StatusPage.id == page_id, StatusPage.owner_id == owner_id)

    async def by_slug(self, slug: str) -> StatusPage | None:
        return await self.get_by(StatusPage.slug == slug)

    async def count_of(self, owner_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(StatusPage.owner_id == owner_id)
        return (await self.session.execute(stmt)).scalar_one()


class PageMonitorDAO(BaseDAO[StatusPageMonitor]):
    model = StatusPageMonitor

    async def of_pages(
        self, page_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[StatusPageMonitor]]:
        found: dict[uuid.UUID, list[StatusPageMonitor]] = {p: [] for p in page_ids}
        if not page_ids:
            return found
        stmt = (
            select(StatusPageMonitor)
            .where(StatusPageMonitor.page_id.in_(list(page_ids)))
            .order_by(StatusPageMonitor.page_id, StatusPageMonitor.position)
        )
        for row in (await self.session.execute(stmt)).scalars():
            found[row.page_id].append(row)
        return found

    async def replace(self, page_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, str]]) -> None:
        await self.session.execute(
            delete(StatusPageMonitor).where(StatusPageMonitor.page_id == page_id)
        )
        for position, (monitor_id, display_name) in enumerate(rows):
            self.session.add(
                StatusPageMonitor(
                    page_id=page_id,
                    monitor_id=monitor_id,
                    position=position,
                    display_name=display_name,
                )
            )
        await self.session.flush()


class PublicReadDAO:
    """What a status page shows, in a few set-based queries."""

    def __init__(self, session):
        self.session = session

    async def owned_monitors(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Monitor]:
        if not ids:
            return {}
        stmt = select(Monitor).where(Monitor.owner_id == owner_id, Monitor.id.in_(list(ids)))
        return {m.id: m for m in (await self.session.execute(stmt)).scalars()}

    async def in_maintenance(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID], at: datetime
    ) -> set[uuid.UUID]:
        """Monitors that an active maintenance window of their owner covers."""
        stmt = select(MaintenanceWindow.monitor_ids).where(
            MaintenanceWindow.owner_id == owner_id,
            MaintenanceWindow.starts_at <= at,
            MaintenanceWindow.ends_at > at,
        )
        covered: set[uuid.UUID] = set()
        for (monitor_ids,) in (await self.session.execute(stmt)).all():
            if monitor_ids is None:
                return set(ids)
            covered.update(monitor_ids)
        return covered.intersection(ids)

    async def open_incidents(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID], limit: int = 20
    ) -> list[tuple[Incident, list[uuid.UUID]]]:
        """Open incidents of the owner touching these monitors, newest first, with which."""
        if not ids:
            return []
        stmt = (
            select(Incident, func.array_agg(IncidentMonitor.monitor_id))
            .join(IncidentMonitor, IncidentMonitor.incident_id == Incident.id)
            .where(
                Incident.owner_id == owner_id,
                Incident.status == IncidentStatus.OPEN,
                IncidentMonitor.monitor_id.in_(list(ids)),
                IncidentMonitor.up_at.is_(None),
            )
            .group_by(Incident.id)
            .order_by(Incident.opened_at.desc())
            .limit(limit)
        )
        return [(incident, list(mids)) for incident, mids in (await self.session.execute(stmt))]
