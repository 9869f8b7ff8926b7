"""Queries of alert channels and notifications."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from berth_common.dao import BaseDAO
from berth_monitoring.enums import NotificationEvent
from berth_monitoring.models import AlertChannel, MonitorChannel, Notification


class ChannelDAO(BaseDAO[AlertChannel]):
    model = AlertChannel
    not_found_message = "Alert channel not found"
    sortable = {"name": AlertChannel.name, "created_at": AlertChannel.created_at}
    default_sort = (AlertChannel.created_at.desc(), AlertChannel.id)

    async def owned(self, owner_id: uuid.UUID, channel_id: uuid.UUID) -> AlertChannel | None:
        return await self.get_by(AlertChannel.id == channel_id, AlertChannel.owner_id == owner_id)

    async def count_of(self, owner_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(AlertChannel.owner_id == owner_id)
        return (await self.session.execute(stmt)).scalar_one()

    async def enabled_of_monitor(self, monitor_id: uuid.UUID) -> Sequence[AlertChannel]:
        stmt = (
            select(AlertChannel)
            .join(MonitorChannel, MonitorChannel.channel_id == AlertChannel.id)
            .where(MonitorChannel.monitor_id == monitor_id, AlertChannel.is_enabled)
            .order_by(AlertChannel.created_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def enabled_among(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> Sequence[AlertChannel]:
        if not ids:
            return []
        stmt = select(AlertChannel).where(
            AlertChannel.id.in_(list(ids)),
            AlertChannel.owner_id == owner_id,
            AlertChannel.is_enabled,
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def claim_test_slot(self, channel: AlertChannel, at: datetime, every: timedelta) -> bool:
        """Atomically take the channel's test slot: False when one was taken within `every`."""
        stmt = (
            update(AlertChannel)
            .where(
                AlertChannel.id == channel.id,
                or_(AlertChannel.last_test_at.is_(None), AlertChannel.last_test_at <= at - every),
            )
            .values(last_test_at=at)
            .returning(AlertChannel.id)
        )
        taken = (await self.session.execute(stmt)).scalar() is not None
        if taken:
            await self.session.refresh(channel, ["last_test_at"])
        return taken


class NotificationDAO(BaseDAO[Notification]):
    model = Notification
    default_sort = (Notification.created_at.desc(), Notification.id)

    async def add_once(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert one notification; None when its dedupe key exists (owed once already)."""
        stmt = (
            insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
            .returning(Notification.id)
        )
        return (await self.session.execute(stmt)).scalar()

    async def tests_since(self, owner_id: uuid.UUID, since: datetime) -> int:
        stmt = select(func.count()).where(
            Notification.owner_id == owner_id,
            Notification.event == NotificationEvent.TEST,
            Notification.created_at >= since,
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def lock(self, notification_id: uuid.UUID) -> Notification | None:
        stmt = (
            select(Notification)
            .where(Notification.id == notification_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def recent_of(self, channel_id: uuid.UUID, limit: int) -> Sequence[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.channel_id == channel_id)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()
