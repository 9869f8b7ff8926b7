"""Queries of monitors and their channel links; every user-facing one is scoped by owner."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_monitoring.enums import PLATFORM_KINDS
from berth_monitoring.models import AlertChannel, Monitor, MonitorChannel


class MonitorDAO(BaseDAO[Monitor]):
    model = Monitor
    not_found_message = "Monitor not found"
    sortable = {
        "name": Monitor.name,
        "created_at": Monitor.created_at,
        "state": Monitor.state,
        "last_checked_at": Monitor.last_checked_at,
        "last_latency_ms": Monitor.last_latency_ms,
    }
    default_sort = (Monitor.created_at.desc(), Monitor.id)

    async def owned(self, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> Monitor | None:
        return await self.get_by(Monitor.id == monitor_id, Monitor.owner_id == owner_id)

    async def owned_for_update(self, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> Monitor | None:
        stmt = (
            select(Monitor)
            .where(Monitor.id == monitor_id, Monitor.owner_id == owner_id)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def lock_owner(self, owner_id: uuid.UUID) -> None:
        """Serialise one owner's creations until commit, so a quota holds under concurrency."""
        key = int.from_bytes(owner_id.bytes[:8], "big", signed=True)
        await self.session.execute(select(func.pg_advisory_xact_lock(key)))

    async def count_user_monitors(self, owner_id: uuid.UUID) -> int:
        """The owner's own monitors (the platform's monitors of apps do not count to a quota)."""
        stmt = select(func.count()).where(Monitor.owner_id == owner_id, Monitor.app_id.is_(None))
        return (await self.session.execute(stmt)).scalar_one()

    async def counts_by_state(self, owner_id: uuid.UUID) -> dict[str, int]:
        """One aggregate over the owner's monitor rows (index on owner_id), no result scan."""
        stmt = (
            select(Monitor.state, Monitor.suppressed.is_not(None), func.count())
            .where(Monitor.owner_id == owner_id)
            .group_by(Monitor.state, Monitor.suppressed.is_not(None))
        )
        counts: dict[str, int] = {"total": 0, "paused": 0}
        for state, suppressed, n in (await self.session.execute(stmt)).all():
            counts["total"] += n
            if suppressed:
                counts["paused"] += n
            else:
                counts[state] = counts.get(state, 0) + n
        return counts

    async def page(
        self,
        params: PageParams,
        *,
        owner_id: uuid.UUID | None = None,
        state: str | None = None,
        kind: str | None = None,
        search: str | None = None,
        managed: bool | None = None,
    ) -> tuple[list[Monitor], int]:
        where: list[Any] = []
        if owner_id is not None:
            where.append(Monitor.owner_id == owner_id)
        if state == "paused":
            where.append(Monitor.suppressed.is_not(None))
        elif state:
            where.extend([Monitor.state == state, Monitor.suppressed.is_(None)])
        if kind:
            where.append(Monitor.kind == kind)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(Monitor.name.ilike(f"%{escaped}%", escape="\\"))
        if managed is not None:
            where.append(Monitor.app_id.is_not(None) if managed else Monitor.app_id.is_(None))
        return await self.list(params, *where)

    async def record_beat(self, token_hash: str, at: datetime) -> uuid.UUID | None:
        stmt = (
            update(Monitor)
            .where(Monitor.heartbeat_token_hash == token_hash, Monitor.kind == "heartbeat")
            .values(last_beat_at=at)
            .returning(Monitor.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # the platform's monitors of apps
    async def of_app(self, app_id: uuid.UUID) -> list[Monitor]:
        stmt = select(Monitor).where(Monitor.app_id == app_id).with_for_update()
        return list((await self.session.execute(stmt)).scalars())

    async def platform_of_owner(self, owner_id: uuid.UUID) -> list[Monitor]:
        stmt = (
            select(Monitor)
            .where(Monitor.owner_id == owner_id, Monitor.kind.in_(list(PLATFORM_KINDS)))
            .with_for_update()
        )
        return list((await self.session.execute(stmt)).scalars())

    async def delete_of_app(self, app_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(Monitor).where(Monitor.app_id == app_id))
        return result.rowcount or 0


class ChannelLinkDAO:
    def __init__(self, session):
        self.session = session

    async def owned_channel_ids(
        self, owner_id: uuid.UUID, channel_ids: list[uuid.UUID]
    ) -> set[uuid.UUID]:
        if not channel_ids:
            return set()
        stmt = select(AlertChannel.id).where(
            AlertChannel.owner_id == owner_id, AlertChannel.id.in_(channel_ids)
        )
        return set((await self.session.execute(stmt)).scalars())

    async def linked(self, monitor_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = (
            select(MonitorChannel.channel_id)
            .where(MonitorChannel.monitor_id == monitor_id)
            .order_by(MonitorChannel.channel_id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def replace(self, monitor_id: uuid.UUID, channel_ids: list[uuid.UUID]) -> None:
        await self.session.execute(
            delete(MonitorChannel).where(MonitorChannel.monitor_id == monitor_id)
        )
        if channel_ids:
            await self.session.execute(
                insert(MonitorChannel),
                [{"monitor_id": monitor_id, "channel_id": c} for c in channel_ids],
            )
        await self.session.flush()
