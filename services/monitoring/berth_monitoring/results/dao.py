"""Reads of the rollups (the checks' side writes them): uptime and latency by bucket.

A minimal version for the monitor pages; the checks helper's fuller module (raw and minute
data for the current hour) replaces it at merge with the same signatures.
"""

import uuid
from datetime import datetime

from sqlalchemy import func, select

from berth_monitoring.models import DayRollup, HourRollup, IncidentEvent


class RollupDAO:
    def __init__(self, session):
        self.session = session

    async def up_ratio_since(
        self, monitor_ids: list[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, float | None]:
        stmt = (
            select(
                HourRollup.monitor_id, func.sum(HourRollup.checks), func.sum(HourRollup.up_checks)
            )
            .where(HourRollup.monitor_id.in_(monitor_ids), HourRollup.bucket >= since)
            .group_by(HourRollup.monitor_id)
        )
        found: dict[uuid.UUID, float | None] = {}
        for monitor_id, checks, up in (await self.session.execute(stmt)).all():
            found[monitor_id] = (up / checks) if checks else None
        return found

    async def series(
        self, monitor_id: uuid.UUID, since: datetime, daily: bool
    ) -> list[tuple[datetime, int, int, int, int]]:
        table = DayRollup if daily else HourRollup
        stmt = (
            select(
                table.bucket,
                table.checks,
                table.up_checks,
                table.latency_sum_ms,
                table.latency_max_ms,
            )
            .where(table.monitor_id == monitor_id, table.bucket >= since)
            .order_by(table.bucket)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]  # type: ignore[misc]

    async def down_events(self, monitor_id: uuid.UUID, limit: int) -> list[tuple[datetime, str]]:
        stmt = (
            select(IncidentEvent.at, IncidentEvent.detail)
            .where(IncidentEvent.monitor_id == monitor_id, IncidentEvent.kind == "monitor_down")
            .order_by(IncidentEvent.at.desc())
            .limit(limit)
        )
        return [(at, detail) for at, detail in (await self.session.execute(stmt)).all()]
