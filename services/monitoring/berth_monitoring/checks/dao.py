"""The checker's queries: claim due monitors, store a batch's results, write its monitors."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.enums import IncidentStatus
from berth_monitoring.models import (
    AlertChannel,
    Incident,
    IncidentMonitor,
    MaintenanceWindow,
    Monitor,
    MonitorChannel,
    Notification,
)
from berth_monitoring.results.models import ResultBatch, ResultFailure

CLAIM_COLUMNS = (
    Monitor.id,
    Monitor.seq,
    Monitor.owner_id,
    Monitor.kind,
    Monitor.url,
    Monitor.host,
    Monitor.port,
    Monitor.http,
    Monitor.app_id,
    Monitor.timeout_seconds,
    Monitor.interval_seconds,
    Monitor.grace_seconds,
    Monitor.last_beat_at,
    Monitor.created_at,
    Monitor.failure_threshold,
    Monitor.success_threshold,
    Monitor.resend_minutes,
    Monitor.next_check_at,
    Monitor.muted_until,
    Monitor.state,
    Monitor.state_changed_at,
    Monitor.consecutive_failures,
    Monitor.consecutive_successes,
    Monitor.recent_transitions,
    Monitor.flapping,
    Monitor.open_incident_id,
    Monitor.last_alert_at,
    Monitor.cert_expires_at,
)


async def claim_due(session: AsyncSession, limit: int, lookahead: timedelta) -> Sequence[Row[Any]]:
    """Monitors due within `lookahead`, locked until this transaction ends; rows another batch
    holds are skipped, and a row whose slot a committed batch advanced is no longer due (the
    condition is re-checked under the lock)."""
    stmt = (
        select(*CLAIM_COLUMNS)
        .where(Monitor.suppressed.is_(None), Monitor.next_check_at <= func.now() + lookahead)
        .order_by(Monitor.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).all()


async def maintenance_now(
    session: AsyncSession, owner_ids: set[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[set[uuid.UUID] | None]]:
    """The owners' windows covering `now`: per owner, each window's monitors (None: all)."""
    if not owner_ids:
        return {}
    rows = await session.execute(
        select(MaintenanceWindow.owner_id, MaintenanceWindow.monitor_ids).where(
            MaintenanceWindow.owner_id.in_(owner_ids),
            MaintenanceWindow.starts_at <= now,
            MaintenanceWindow.ends_at > now,
        )
    )
    found: dict[uuid.UUID, list[set[uuid.UUID] | None]] = {}
    for owner_id, monitor_ids in rows:
        found.setdefault(owner_id, []).append(set(monitor_ids) if monitor_ids else None)
    return found


async def store_results(
    session: AsyncSession,
    at: datetime,
    columns: dict[str, list[int]],
    failures: list[dict[str, Any]],
) -> None:
    await session.execute(insert(ResultBatch).values(at=at, batch=uuid.uuid4(), **columns))
    if failures:
        await session.execute(pg_insert(ResultFailure).values(failures).on_conflict_do_nothing())


async def write_monitors(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by primary key for the whole batch."""
    if rows:
        await session.execute(update(Monitor), rows)


# --- incidents -------------------------------------------------------------------------------


async def incident_monitor_ids(session: AsyncSession, incident_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        select(IncidentMonitor.monitor_id)
        .where(IncidentMonitor.incident_id == incident_id)
        .order_by(IncidentMonitor.down_at)
    )
    return [str(m) for m in rows.scalars()]


async def open_incident_of_group(
    session: AsyncSession, owner_id: uuid.UUID, key: str
) -> Incident | None:
    """The group's open incident, locked until this transaction ends."""
    return (
        await session.execute(
            select(Incident)
            .where(
                Incident.owner_id == owner_id,
                Incident.group_key == key,
                Incident.status == IncidentStatus.OPEN,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()


async def insert_open_incident(session: AsyncSession, **values: Any) -> uuid.UUID | None:
    """A new open incident's id; None when the group has one already (maybe just committed)."""
    return (
        await session.execute(
            pg_insert(Incident)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=[Incident.owner_id, Incident.group_key],
                # a literal predicate: with a bound parameter PostgreSQL cannot match the partial
                # index once the prepared statement runs on a generic plan (the 6th execution on
                # one connection), and the insert fails with "no unique or exclusion constraint"
                index_where=text("status = 'open'"),
            )
            .returning(Incident.id)
        )
    ).scalar_one_or_none()


async def join_incident(
    session: AsyncSession, incident_id: uuid.UUID, monitor_id: uuid.UUID, at: datetime
) -> None:
    await session.execute(
        pg_insert(IncidentMonitor)
        .values(incident_id=incident_id, monitor_id=monitor_id, down_at=at)
        .on_conflict_do_update(
            index_elements=[IncidentMonitor.incident_id, IncidentMonitor.monitor_id],
            set_={"down_at": at, "up_at": None},
        )
    )


async def leave_incident(
    session: AsyncSession, incident_id: uuid.UUID, monitor_id: uuid.UUID, at: datetime
) -> int:
    """Close the monitor's part; how many parts of the incident are still down."""
    await session.execute(
        update(IncidentMonitor)
        .where(
            IncidentMonitor.incident_id == incident_id,
            IncidentMonitor.monitor_id == monitor_id,
            IncidentMonitor.up_at.is_(None),
        )
        .values(up_at=at)
    )
    return (
        await session.execute(
            select(func.count())
            .select_from(IncidentMonitor)
            .where(IncidentMonitor.incident_id == incident_id, IncidentMonitor.up_at.is_(None))
        )
    ).scalar_one()


# --- notifications (for alerts.service.notify) ----------------------------------------------


async def enabled_channels_of(session: AsyncSession, monitor: Monitor) -> list[uuid.UUID]:
    rows = await session.execute(
        select(AlertChannel.id)
        .join(MonitorChannel, MonitorChannel.channel_id == AlertChannel.id)
        .where(
            MonitorChannel.monitor_id == monitor.id,
            AlertChannel.is_enabled.is_(True),
            AlertChannel.owner_id == monitor.owner_id,
        )
        .order_by(AlertChannel.id)
    )
    return list(rows.scalars())


async def insert_notification(session: AsyncSession, **values: Any) -> uuid.UUID | None:
    """The new notification's id; None when its dedupe key was served already."""
    return (
        await session.execute(
            pg_insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
            .returning(Notification.id)
        )
    ).scalar_one_or_none()
