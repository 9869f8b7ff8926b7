"""Uptime and latency of monitors for pages and lists, read from the rollups only (never a
scan of raw results). Signatures agreed with the checks' side, which owns this module."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.results.dao import RollupDAO

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


async def uptime(
    session: AsyncSession,
    monitor_ids: Iterable[uuid.UUID],
    windows: Sequence[str] = ("24h", "7d", "30d"),
) -> dict[uuid.UUID, dict[str, float | None]]:
    ids = list(monitor_ids)
    found: dict[uuid.UUID, dict[str, float | None]] = {i: {} for i in ids}
    if not ids:
        return found
    now = datetime.now(UTC)
    dao = RollupDAO(session)
    for window in windows:
        ratios = await dao.up_ratio_since(ids, now - WINDOWS[window])
        for monitor_id in ids:
            found[monitor_id][window] = ratios.get(monitor_id)
    return found


async def latency_series(
    session: AsyncSession, monitor_id: uuid.UUID, since: datetime, step: timedelta
) -> list[tuple[datetime, float | None, int | None, float | None]]:
    rows = await RollupDAO(session).series(monitor_id, since, daily=step >= timedelta(days=1))
    return [
        (
            bucket,
            (latency_sum / checks) if checks else None,
            latency_max if checks else None,
            (up / checks) if checks else None,
        )
        for bucket, checks, up, latency_sum, latency_max in rows
    ]


async def recent_failures(
    session: AsyncSession, monitor_id: uuid.UUID, limit: int = 20
) -> list[dict[str, Any]]:
    """The monitor's last failures, newest first: {at, error_kind, status, reason}. Here from
    its incidents' timelines; the checks' version reads every failed check's stored reason."""
    rows = await RollupDAO(session).down_events(monitor_id, max(1, min(limit, 500)))
    return [
        {"at": at, "error_kind": None, "status": None, "reason": detail or "down"}
        for at, detail in rows
    ]
