"""Queries of the hour and day rollups."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.models import DayRollup, HourRollup


class RollupDAO:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def hour_totals(
        self, monitor_ids: Sequence[uuid.UUID], since: datetime
    ) -> list[tuple[uuid.UUID, int, int]]:
        """(monitor, checks, up checks) over the hours since `since`."""
        stmt = (
            select(
                HourRollup.monitor_id, func.sum(HourRollup.checks), func.sum(HourRollup.up_checks)
            )
            .where(HourRollup.monitor_id.in_(list(monitor_ids)), HourRollup.bucket >= since)
            .group_by(HourRollup.monitor_id)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]

    async def days(
        self, monitor_ids: Sequence[uuid.UUID], since: datetime
    ) -> list[tuple[uuid.UUID, datetime, int, int]]:
        stmt = select(
            DayRollup.monitor_id, DayRollup.bucket, DayRollup.checks, DayRollup.up_checks
        ).where(DayRollup.monitor_id.in_(list(monitor_ids)), DayRollup.bucket >= since)
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]
