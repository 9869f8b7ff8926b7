"""Incidents: a monitor going DOWN opens (or joins) its owner's open incident for its group;
its recovery closes its part, and the last part closing resolves the incident.

Groups: a platform monitor's app ("app:<id>"), a user monitor's host ("host:<name>"), else the
monitor itself. The open incident of a group is unique (partial unique index), and its row is
locked before its parts are counted, so two batches closing the last two parts at once still
resolve it exactly once. Callers handle monitors in group-key order (no lock cycles).
"""

import uuid
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import publish_event
from berth_monitoring.checks import dao
from berth_monitoring.enums import IncidentEventKind, IncidentStatus, MonitorKind
from berth_monitoring.models import Incident, IncidentEvent, Monitor
from berth_monitoring.names import Event


def group_key(monitor: Monitor) -> str:
    if monitor.app_id is not None:
        return f"app:{monitor.app_id}"
    if monitor.kind == MonitorKind.TCP and monitor.host:
        return f"host:{monitor.host.lower()}"
    if monitor.kind == MonitorKind.HTTP and monitor.url:
        host = urlsplit(monitor.url).hostname
        if host:
            return f"host:{host.lower()}"
    return f"monitor:{monitor.id}"


async def _event(
    session: AsyncSession,
    incident_id: uuid.UUID,
    kind: IncidentEventKind,
    at: datetime,
    monitor_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        IncidentEvent(
            incident_id=incident_id,
            kind=kind,
            at=at,
            monitor_id=monitor_id,
            detail=detail[:500] if detail else None,
        )
    )


async def join_or_open(
    session: AsyncSession, monitor: Monitor, at: datetime, cause: str | None, title: str
) -> Incident:
    """The owner's open incident of the monitor's group with the monitor in it (locked)."""
    key = group_key(monitor)
    incident = await dao.open_incident_of_group(session, monitor.owner_id, key)
    opened = False
    if incident is None:
        new_id = await dao.insert_open_incident(
            session,
            owner_id=monitor.owner_id,
            group_key=key,
            title=title[:300],
            cause=cause[:500] if cause else None,
            opened_at=at,
        )
        opened = new_id is not None
        incident = await dao.open_incident_of_group(session, monitor.owner_id, key)
        assert incident is not None  # inserted now, or by the batch we waited for
    await dao.join_incident(session, incident.id, monitor.id, at)
    if opened:
        await _event(session, incident.id, IncidentEventKind.OPENED, at, monitor.id, cause)
    await _event(session, incident.id, IncidentEventKind.MONITOR_DOWN, at, monitor.id, cause)
    if opened:
        await session.flush()
        await publish_event(
            session,
            Event.INCIDENT_OPENED,
            {
                "incident_id": str(incident.id),
                "owner_id": str(incident.owner_id),
                "title": incident.title,
                "group_key": incident.group_key,
                "monitor_ids": await dao.incident_monitor_ids(session, incident.id),
                "opened_at": incident.opened_at.isoformat(),
            },
        )
    return incident


async def note_flapping(
    session: AsyncSession, monitor: Monitor, at: datetime, detail: str
) -> Incident:
    """A monitor started flapping: one event on its incident (opened if need be), no alert."""
    if monitor.open_incident_id is not None:
        incident = await session.get(Incident, monitor.open_incident_id, with_for_update=True)
        if incident is not None and incident.status == IncidentStatus.OPEN:
            await _event(session, incident.id, IncidentEventKind.FLAPPING, at, monitor.id, detail)
            return incident
    incident = await join_or_open(session, monitor, at, detail, f"{monitor.name} is flapping")
    await _event(session, incident.id, IncidentEventKind.FLAPPING, at, monitor.id, detail)
    return incident


async def leave(
    session: AsyncSession, monitor: Monitor, incident_id: uuid.UUID, at: datetime
) -> Incident | None:
    """The monitor is up: close its part; resolve the incident when no part is open."""
    incident = await session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        return None
    still_down = await dao.leave_incident(session, incident_id, monitor.id, at)
    await _event(session, incident_id, IncidentEventKind.MONITOR_UP, at, monitor.id)
    if incident.status == IncidentStatus.OPEN and still_down == 0:
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = at
        await _event(session, incident_id, IncidentEventKind.RESOLVED, at)
        await session.flush()
        await publish_event(
            session,
            Event.INCIDENT_RESOLVED,
            {
                "incident_id": str(incident.id),
                "owner_id": str(incident.owner_id),
                "title": incident.title,
                "group_key": incident.group_key,
                "monitor_ids": await dao.incident_monitor_ids(session, incident.id),
                "resolved_at": at.isoformat(),
            },
        )
    return incident
