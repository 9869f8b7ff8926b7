"""Results over time: the rollups (minute → hour → day), retention, and the reads pages use.

Storage: raw results live `raw_retention_days` in daily partitions (one row of arrays per
checked batch, plus a row per failure with its reason); per-minute rollups live
`minute_retention_days` in daily partitions too; both are dropped a whole day at a time.
Hour and day rollups (keyed by monitor id) are kept `hour_retention_days` / `day_retention_days`.

The rollup task recomputes the minutes in [watermark, end) from raw, then the hours and days
those minutes touch, with upserts that replace: a retried or overlapping run writes the same
rows again instead of counting twice. `end` trails now by the longest a check can take to be
committed, so a closed minute is final when it is rolled up.

Reads: uptime and charts come from the rollups only (never a scan of raw results); data is
as fresh as the last rollup (about a minute and a half behind), while each monitor row keeps
its last result for lists.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.models import DayRollup, HourRollup
from berth_monitoring.results.dao import ResultsDAO
from berth_monitoring.results.models import MinuteRollup

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
# a check may be committed up to its timeout (≤ 60 s) after it started, plus the batch's write
ROLLUP_LAG = timedelta(seconds=90)
ROLLUP_CHUNK = timedelta(hours=6)
MINUTES = "minutes"


def _floor(at: datetime, unit: str) -> datetime:
    at = at.astimezone(UTC)
    if unit == "minute":
        return at.replace(second=0, microsecond=0)
    if unit == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


async def rollup(session: AsyncSession, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Roll up closed minutes since the watermark (at most ROLLUP_CHUNK per call)."""
    now = now or datetime.now(UTC)
    dao = ResultsDAO(session)
    end = _floor(now - ROLLUP_LAG, "minute")
    start = await dao.lock_watermark(MINUTES)
    if start is None:
        first = await dao.first_result_at()
        start = _floor(first, "minute") if first is not None else end
    end = min(end, start + ROLLUP_CHUNK)
    if end > start:
        await dao.rollup(start, end)
        await dao.set_watermark(MINUTES, end)
    return start, end


async def retention(
    session: AsyncSession, settings: MonitoringSettings, now: datetime | None = None
) -> dict[str, int]:
    """Partitions made ahead (today + 2 days), expired days dropped whole, old rollups deleted."""
    now = now or datetime.now(UTC)
    dao = ResultsDAO(session)
    today = now.date()
    done = {"partitions_made": await dao.ensure_partitions(today, 3)}
    raw_before = today - timedelta(days=settings.raw_retention_days)
    minute_before = today - timedelta(days=settings.minute_retention_days)
    done["results"] = await dao.drop_partitions("results", raw_before)
    done["result_failures"] = await dao.drop_partitions("result_failures", raw_before)
    done["rollup_minutes"] = await dao.drop_partitions("rollup_minutes", minute_before)
    done["rollup_hours"] = await dao.delete_rollups(
        HourRollup, now - timedelta(days=settings.hour_retention_days)
    )
    done["rollup_days"] = await dao.delete_rollups(
        DayRollup, _floor(now, "day") - timedelta(days=settings.day_retention_days)
    )
    return done


async def uptime(
    session: AsyncSession,
    monitor_ids: Iterable[uuid.UUID],
    windows: Sequence[str] = ("24h", "7d", "30d"),
) -> dict[uuid.UUID, dict[str, float | None]]:
    """Share of successful checks per window (None: no checks in it). 1h reads minutes,
    24h/7d hours and longer windows days, each from the start of its first bucket."""
    ids = list(dict.fromkeys(monitor_ids))
    now = datetime.now(UTC)
    by_source: dict[str, dict[str, datetime]] = {"minute": {}, "hour": {}, "day": {}}
    for window in windows:
        span = WINDOWS[window]
        unit = (
            "minute"
            if span <= timedelta(hours=1)
            else "hour"
            if span <= timedelta(days=7)
            else "day"
        )
        by_source[unit][window] = _floor(now - span, unit)
    dao = ResultsDAO(session)
    totals: dict[uuid.UUID, dict[str, tuple[int, int]]] = {}
    for unit, table in (("minute", MinuteRollup), ("hour", HourRollup), ("day", DayRollup)):
        if by_source[unit] and ids:
            for monitor_id, per_window in (await dao.totals(table, ids, by_source[unit])).items():
                totals.setdefault(monitor_id, {}).update(per_window)
    found: dict[uuid.UUID, dict[str, float | None]] = {}
    for monitor_id in ids:
        per_window = totals.get(monitor_id, {})
        found[monitor_id] = {}
        for window in windows:
            checks, up = per_window.get(window, (0, 0))
            found[monitor_id][window] = (up / checks) if checks else None
    return found


async def latency_series(
    session: AsyncSession, monitor_id: uuid.UUID, since: datetime, step: timedelta
) -> list[tuple[datetime, float | None, int | None, float | None]]:
    """(bucket, average ms, max ms, up ratio) per `step` from `since`, oldest first; from the
    minute rollups for steps under an hour, hours under a day, else days."""
    seconds = max(60, int(step.total_seconds()))
    table = MinuteRollup if seconds < 3600 else HourRollup if seconds < 86400 else DayRollup
    rows = await ResultsDAO(session).series(monitor_id, table, since, seconds)
    series: list[tuple[datetime, float | None, int | None, float | None]] = []
    for bucket, checks, up, latency_sum, latency_max in rows:
        checks = int(checks or 0)
        if not checks:
            series.append((bucket, None, None, None))
            continue
        series.append((bucket, int(latency_sum) / checks, int(latency_max), int(up) / checks))
    return series


async def day_bars(
    session: AsyncSession, monitor_ids: Iterable[uuid.UUID], days: int = 90
) -> dict[uuid.UUID, list[tuple[datetime, float | None]]]:
    """Per monitor, each of the last `days` UTC days (oldest first, today last) and its up
    ratio, None for a day without checks."""
    ids = list(dict.fromkeys(monitor_ids))
    today = _floor(datetime.now(UTC), "day")
    first = today - timedelta(days=days - 1)
    ratios: dict[tuple[uuid.UUID, datetime], float] = {}
    if ids:
        for monitor_id, bucket, checks, up in await ResultsDAO(session).day_rows(ids, first):
            if checks:
                ratios[(monitor_id, bucket.astimezone(UTC))] = up / checks
    return {
        monitor_id: [
            (day, ratios.get((monitor_id, day)))
            for day in (first + timedelta(days=i) for i in range(days))
        ]
        for monitor_id in ids
    }


async def recent_failures(
    session: AsyncSession, monitor_id: uuid.UUID, limit: int = 20
) -> list[dict[str, Any]]:
    """The monitor's last failures (within raw retention), newest first."""
    rows = await ResultsDAO(session).failures(monitor_id, max(1, min(limit, 500)))
    return [
        {"at": at, "error_kind": kind, "status": status, "reason": reason}
        for at, kind, status, reason in rows
    ]
