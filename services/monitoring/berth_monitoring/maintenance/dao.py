"""Queries of maintenance windows, scoped by owner."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_monitoring.models import MaintenanceWindow, Monitor


class WindowDAO(BaseDAO[MaintenanceWindow]):
    model = MaintenanceWindow
    not_found_message = "Maintenance window not found"
    sortable = {"starts_at": MaintenanceWindow.starts_at, "ends_at": MaintenanceWindow.ends_at}
    default_sort = (MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id)

    async def owned_for_update(
        self, owner_id: uuid.UUID, window_id: uuid.UUID
    ) -> MaintenanceWindow | None:
        stmt = (
            select(MaintenanceWindow)
            .where(MaintenanceWindow.id == window_id, MaintenanceWindow.owner_id == owner_id)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def page(
        self, params: PageParams, owner_id: uuid.UUID, when: str | None, now: datetime
    ) -> tuple[list[MaintenanceWindow], int]:
        where: list[Any] = [MaintenanceWindow.owner_id == owner_id]
        if when == "active":
            where += [MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now]
        elif when == "upcoming":
            where.append(MaintenanceWindow.starts_at > now)
        elif when == "past":
            where.append(MaintenanceWindow.ends_at <= now)
        return await self.list(params, *where)

    async def owned_monitor_ids(
        self, owner_id: uuid.UUID, monitor_ids: list[uuid.UUID]
    ) -> set[uuid.UUID]:
        stmt = select(Monitor.id).where(Monitor.owner_id == owner_id, Monitor.id.in_(monitor_ids))
        return set((await self.session.execute(stmt)).scalars())
