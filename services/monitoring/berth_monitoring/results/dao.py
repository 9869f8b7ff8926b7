"""Queries over results and rollups: the rollup upserts (recomputed, so idempotent), the
retention statements and the reads of pages. Raw results are read only by the rollup."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.models import (
    PARTITIONED_TABLES,
    DayRollup,
    HourRollup,
    MinuteRollup,
    Monitor,
)

Rollup = type[MinuteRollup] | type[HourRollup] | type[DayRollup]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _source(table: Rollup) -> tuple[Any, Any]:
    """(the monitor id column, the FROM clause): minute rollups know a monitor by its seq."""
    if table is MinuteRollup:
        joined = MinuteRollup.__table__.join(
            Monitor.__table__, Monitor.seq == MinuteRollup.monitor_seq
        )
        return Monitor.id, joined
    return table.monitor_id, table


# minutes in [start, end): every check whose own start time falls there, from the batches
# claimed up to 2 minutes before (a check starts at most its timeout after its claim)
ROLLUP_MINUTES = text(
    """
    INSERT INTO monitoring.rollup_minutes
        (monitor_seq, bucket, checks, up_checks, latency_sum_ms, latency_max_ms)
    SELECT seq, bucket, count(*), count(*) FILTER (WHERE outcome = 0),
           sum(latency)::integer, max(latency)::integer
    FROM (
        SELECT u.seq, u.latency, u.outcome,
               date_trunc('minute', r.at + u.offset_ms * interval '1 millisecond', 'UTC')
                   AS bucket
        FROM monitoring.results r,
             unnest(r.seqs, r.offsets_ms, r.latency_ms, r.outcomes)
                 AS u(seq, offset_ms, latency, outcome)
        WHERE r.at >= CAST(:start AS timestamptz) - interval '2 minutes'
          AND r.at < :end
    ) checks
    WHERE bucket >= :start AND bucket < :end
    GROUP BY seq, bucket
    ON CONFLICT (monitor_seq, bucket) DO UPDATE SET
        checks = excluded.checks, up_checks = excluded.up_checks,
        latency_sum_ms = excluded.latency_sum_ms, latency_max_ms = excluded.latency_max_ms
    """
)

ROLLUP_HOURS = text(
    """
    INSERT INTO monitoring.rollup_hours
        (monitor_id, bucket, checks, up_checks, latency_sum_ms, latency_max_ms, down_seconds)
    SELECT m.id, date_trunc('hour', rm.bucket, 'UTC'), sum(rm.checks), sum(rm.up_checks),
           sum(rm.latency_sum_ms), max(rm.latency_max_ms),
           least(3600, sum(rm.checks - rm.up_checks) * m.interval_seconds)
    FROM monitoring.rollup_minutes rm
    JOIN monitoring.monitors m ON m.seq = rm.monitor_seq
    WHERE rm.bucket >= :start AND rm.bucket < :end
    GROUP BY m.id, m.interval_seconds, date_trunc('hour', rm.bucket, 'UTC')
    ON CONFLICT (monitor_id, bucket) DO UPDATE SET
        checks = excluded.checks, up_checks = excluded.up_checks,
        latency_sum_ms = excluded.latency_sum_ms, latency_max_ms = excluded.latency_max_ms,
        down_seconds = excluded.down_seconds
    """
)

ROLLUP_DAYS = text(
    """
    INSERT INTO monitoring.rollup_days
        (monitor_id, bucket, checks, up_checks, latency_sum_ms, latency_max_ms, down_seconds)
    SELECT monitor_id, date_trunc('day', bucket, 'UTC'), sum(checks), sum(up_checks),
           sum(latency_sum_ms), max(latency_max_ms), least(86400, sum(down_seconds))
    FROM monitoring.rollup_hours
    WHERE bucket >= :start AND bucket < :end
    GROUP BY monitor_id, date_trunc('day', bucket, 'UTC')
    ON CONFLICT (monitor_id, bucket) DO UPDATE SET
        checks = excluded.checks, up_checks = excluded.up_checks,
        latency_sum_ms = excluded.latency_sum_ms, latency_max_ms = excluded.latency_max_ms,
        down_seconds = excluded.down_seconds
    """
)


class ResultsDAO:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def _exec(self, stmt: Any, **params: Any) -> Any:
        return await self.session.execute(stmt, params)

    async def lock_watermark(self, name: str) -> datetime | None:
        await self._exec(
            text(
                "INSERT INTO monitoring.rollup_watermarks (name, done_until) "
                "VALUES (:name, '-infinity') ON CONFLICT (name) DO NOTHING"
            ),
            name=name,
        )
        found = await self._exec(
            text(
                "SELECT done_until FROM monitoring.rollup_watermarks WHERE name = :name FOR UPDATE"
            ),
            name=name,
        )
        value = found.scalar_one()
        return None if value is None or value.year < 2 else value

    async def set_watermark(self, name: str, done_until: datetime) -> None:
        await self._exec(
            text("UPDATE monitoring.rollup_watermarks SET done_until = :d WHERE name = :name"),
            name=name,
            d=done_until,
        )

    async def first_result_at(self) -> datetime | None:
        return (await self._exec(text("SELECT min(at) FROM monitoring.results"))).scalar_one()

    async def rollup(self, start: datetime, end: datetime) -> None:
        await self._exec(ROLLUP_MINUTES, start=start, end=end)
        hour_start = start.replace(minute=0, second=0, microsecond=0)
        await self._exec(ROLLUP_HOURS, start=hour_start, end=end)
        day_start = hour_start.replace(hour=0)
        await self._exec(ROLLUP_DAYS, start=day_start, end=end)

    async def ensure_partitions(self, first_day: Any, days: int) -> int:
        made = 0
        for table in PARTITIONED_TABLES:
            made += (
                await self._exec(
                    text("SELECT monitoring.ensure_day_partitions(:t, :d, :n)"),
                    t=table,
                    d=first_day,
                    n=days,
                )
            ).scalar_one()
        return made

    async def drop_partitions(self, table: str, before_day: Any) -> int:
        return (
            await self._exec(
                text("SELECT monitoring.drop_day_partitions(:t, :d)"), t=table, d=before_day
            )
        ).scalar_one()

    async def delete_rollups(
        self, table: type[HourRollup] | type[DayRollup], before: datetime
    ) -> int:
        result = await self.session.execute(delete(table).where(table.bucket < before))
        return result.rowcount  # type: ignore[attr-defined]

    async def partitions(self, table: str) -> list[str]:
        rows = await self._exec(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n "
                "ON n.oid = p.relnamespace WHERE n.nspname = 'monitoring' AND p.relname = :t "
                "ORDER BY 1"
            ),
            t=table,
        )
        return list(rows.scalars())

    # --- reads ---------------------------------------------------------------------------

    async def totals(
        self, table: Rollup, ids: list[uuid.UUID], starts: dict[str, datetime]
    ) -> dict[uuid.UUID, dict[str, tuple[int, int]]]:
        """Per monitor and window: (checks, up checks) of the buckets from the window's start."""
        if not starts or not ids:
            return {}
        names = sorted(starts)
        ident, source = _source(table)
        columns: list[Any] = [ident]
        for name in names:
            since = table.bucket >= starts[name]
            columns += [
                func.sum(table.checks).filter(since),
                func.sum(table.up_checks).filter(since),
            ]
        stmt = (
            select(*columns)
            .select_from(source)
            .where(ident.in_(ids), table.bucket >= min(starts.values()))
            .group_by(ident)
        )
        found: dict[uuid.UUID, dict[str, tuple[int, int]]] = {}
        for row in await self.session.execute(stmt):
            found[row[0]] = {
                name: (int(row[1 + 2 * i] or 0), int(row[2 + 2 * i] or 0))
                for i, name in enumerate(names)
            }
        return found

    async def series(
        self, monitor_id: uuid.UUID, table: Rollup, since: datetime, step_seconds: int
    ) -> list[Any]:
        ident, source = _source(table)
        bucket = func.date_bin(
            func.make_interval(0, 0, 0, 0, 0, 0, step_seconds), table.bucket, EPOCH
        ).label("b")
        stmt = (
            select(
                bucket,
                func.sum(table.checks),
                func.sum(table.up_checks),
                func.sum(table.latency_sum_ms),
                func.max(table.latency_max_ms),
            )
            .select_from(source)
            .where(ident == monitor_id, table.bucket >= since)
            .group_by(bucket)
            .order_by(bucket)
        )
        return list(await self.session.execute(stmt))

    async def day_rows(self, ids: list[uuid.UUID], since: datetime) -> list[Any]:
        stmt = text(
            "SELECT monitor_id, bucket, checks, up_checks FROM monitoring.rollup_days "
            "WHERE monitor_id = ANY(:ids) AND bucket >= :since"
        )
        return list(await self._exec(stmt, ids=ids, since=since))

    async def failures(self, monitor_id: uuid.UUID, limit: int) -> list[Any]:
        stmt = text(
            "SELECT f.at, f.error_kind, f.status, f.reason FROM monitoring.result_failures f "
            "JOIN monitoring.monitors m ON m.seq = f.monitor_seq WHERE m.id = :id "
            "ORDER BY f.at DESC LIMIT :limit"
        )
        return list(await self._exec(stmt, id=monitor_id, limit=limit))
