"""Queries over results and rollups: the rollup upserts (recomputed, so idempotent), the
retention statements and the reads of pages. Raw results are read only by the rollup."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, column, delete, func, select, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.models import DayRollup, HourRollup
from berth_monitoring.results.models import PARTITIONED_TABLES, MinuteRollup

Rollup = type[MinuteRollup] | type[HourRollup] | type[DayRollup]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _rows(table: Rollup, ids: list[uuid.UUID], since: datetime) -> Any:
    """(monitor_id, bucket, checks, up_checks, latency_sum_ms, latency_max_ms) of the
    monitors' buckets from `since`; minute rollups unnest their hour rows."""
    if table is MinuteRollup:
        hour = since.replace(minute=0, second=0, microsecond=0)
        rows = MINUTE_ROWS.bindparams(ids=ids, since_hour=hour).subquery("minutes")
        return select(rows).where(rows.c.bucket >= since).subquery("minute_rows")
    return (
        select(
            table.monitor_id,
            table.bucket,
            table.checks,
            table.up_checks,
            table.latency_sum_ms,
            table.latency_max_ms,
        )
        .where(table.monitor_id.in_(ids), table.bucket >= since)
        .subquery("rows")
    )


# the hours in [start, end) (start on an hour), recomputed whole from the raw results: every
# check whose own start time falls there, from the batches claimed up to 2 minutes before (a
# check starts at most its timeout after the batch's first); a minute at or after `end` is 0
# until a later run
ROLLUP_MINUTES = text(
    """
    WITH checks AS (
        SELECT u.seq, u.latency, u.outcome,
               r.at + u.offset_ms * interval '1 millisecond' AS t
        FROM monitoring.results r,
             unnest(r.seqs, r.offsets_ms, r.latency_ms, r.outcomes)
                 AS u(seq, offset_ms, latency, outcome)
        WHERE r.at >= CAST(:start AS timestamptz) - interval '2 minutes' AND r.at < :end
    ), per_minute AS (
        SELECT seq, date_trunc('hour', t, 'UTC') AS hour,
               CAST(extract(minute FROM t AT TIME ZONE 'UTC') AS integer) AS minute,
               count(*) AS n, count(*) FILTER (WHERE outcome = 0) AS up,
               sum(latency) AS latency_sum, max(latency) AS latency_max
        FROM checks WHERE t >= :start AND t < :end
        GROUP BY 1, 2, 3
    ), keys AS (SELECT DISTINCT seq, hour FROM per_minute)
    INSERT INTO monitoring.rollup_minutes
        (monitor_seq, hour, checks, up_checks, latency_sum_ms, latency_max_ms)
    SELECT k.seq, k.hour,
           array_agg(CAST(coalesce(p.n, 0) AS smallint) ORDER BY g.minute),
           array_agg(CAST(coalesce(p.up, 0) AS smallint) ORDER BY g.minute),
           array_agg(CAST(coalesce(p.latency_sum, 0) AS integer) ORDER BY g.minute),
           array_agg(CAST(coalesce(p.latency_max, 0) AS smallint) ORDER BY g.minute)
    FROM keys k CROSS JOIN generate_series(0, 59) AS g(minute)
    LEFT JOIN per_minute p ON p.seq = k.seq AND p.hour = k.hour AND p.minute = g.minute
    GROUP BY k.seq, k.hour
    ON CONFLICT (monitor_seq, hour) DO UPDATE SET
        checks = excluded.checks, up_checks = excluded.up_checks,
        latency_sum_ms = excluded.latency_sum_ms, latency_max_ms = excluded.latency_max_ms
    """
)

ROLLUP_HOURS = text(
    """
    INSERT INTO monitoring.rollup_hours
        (monitor_id, bucket, checks, up_checks, latency_sum_ms, latency_max_ms, down_seconds)
    SELECT m.id, rm.hour, sum(x.n), sum(x.up), sum(x.latency_sum), max(x.latency_max),
           least(3600, sum(x.n - x.up) * m.interval_seconds)
    FROM monitoring.rollup_minutes rm
    JOIN monitoring.monitors m ON m.seq = rm.monitor_seq,
         unnest(rm.checks, rm.up_checks, rm.latency_sum_ms, rm.latency_max_ms)
             AS x(n, up, latency_sum, latency_max)
    WHERE rm.hour >= :start AND rm.hour < :end
    GROUP BY m.id, m.interval_seconds, rm.hour
    HAVING sum(x.n) > 0
    ON CONFLICT (monitor_id, bucket) DO UPDATE SET
        checks = excluded.checks, up_checks = excluded.up_checks,
        latency_sum_ms = excluded.latency_sum_ms, latency_max_ms = excluded.latency_max_ms,
        down_seconds = excluded.down_seconds
    """
)

# one row per minute of the minute rollups, for reads: (monitor_id, bucket, checks, ...)
MINUTE_ROWS = text(
    """
    SELECT m.id AS monitor_id, rm.hour + (x.i - 1) * interval '1 minute' AS bucket,
           x.n AS checks, x.up AS up_checks, x.latency_sum AS latency_sum_ms,
           x.latency_max AS latency_max_ms
    FROM monitoring.rollup_minutes rm
    JOIN monitoring.monitors m ON m.seq = rm.monitor_seq,
         unnest(rm.checks, rm.up_checks, rm.latency_sum_ms, rm.latency_max_ms)
             WITH ORDINALITY AS x(n, up, latency_sum, latency_max, i)
    WHERE m.id = ANY(:ids) AND rm.hour >= :since_hour
    """
).columns(
    column("monitor_id", PG_UUID(as_uuid=True)),
    column("bucket", DateTime(timezone=True)),
    column("checks", Integer),
    column("up_checks", Integer),
    column("latency_sum_ms", Integer),
    column("latency_max_ms", Integer),
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
        """Minutes (whole hours from start's hour), then the hours and days they touch."""
        hour_start = start.replace(minute=0, second=0, microsecond=0)
        await self._exec(ROLLUP_MINUTES, start=hour_start, end=end)
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
        t = _rows(table, ids, min(starts.values())).c
        columns: list[Any] = [t.monitor_id]
        for name in names:
            since = t.bucket >= starts[name]
            columns += [func.sum(t.checks).filter(since), func.sum(t.up_checks).filter(since)]
        stmt = select(*columns).group_by(t.monitor_id)
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
        t = _rows(table, [monitor_id], since).c
        bucket = func.date_bin(
            func.make_interval(0, 0, 0, 0, 0, 0, step_seconds), t.bucket, EPOCH
        ).label("b")
        stmt = (
            select(
                bucket,
                func.sum(t.checks),
                func.sum(t.up_checks),
                func.sum(t.latency_sum_ms),
                func.max(t.latency_max_ms),
            )
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
