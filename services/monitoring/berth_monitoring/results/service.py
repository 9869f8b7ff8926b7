"""Reads of stored results for pages: uptime over windows and 90-day bars.

Written by the alerts helper against the agreed signatures, over the hour and day rollups
only; the checks helper's version (which also counts the current hour's raw results)
replaces this file at merge.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.results.dao import RollupDAO

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


async def uptime(
    session: AsyncSession,
    monitor_ids: Sequence[uuid.UUID],
    windows: Sequence[str] = ("24h", "7d", "30d"),
) -> dict[uuid.UUID, dict[str, float | None]]:
    """Share of successful checks per monitor and window; None where nothing was checked."""
    now = datetime.now(UTC)
    found: dict[uuid.UUID, dict[str, float | None]] = {
        m: dict.fromkeys(windows) for m in monitor_ids
    }
    if not monitor_ids:
        return found
    for window in windows:
        since = now - WINDOWS[window]
        for monitor_id, checks, up in await RollupDAO(session).hour_totals(monitor_ids, since):
            if checks:
                found[monitor_id][window] = up / checks
    return found


async def day_bars(
    session: AsyncSession, monitor_ids: Sequence[uuid.UUID], days: int = 90
) -> dict[uuid.UUID, list[tuple[date, float | None]]]:
    """One (day, up ratio) per UTC day, oldest first, today last; None for a day unchecked."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    ratios: dict[tuple[uuid.UUID, date], float] = {}
    if monitor_ids:
        since = datetime.combine(first, datetime.min.time(), UTC)
        for monitor_id, bucket, checks, up in await RollupDAO(session).days(monitor_ids, since):
            if checks:
                ratios[(monitor_id, bucket.astimezone(UTC).date())] = up / checks
    return {
        m: [
            (first + timedelta(days=i), ratios.get((m, first + timedelta(days=i))))
            for i in range(days)
        ]
        for m in monitor_ids
    }
