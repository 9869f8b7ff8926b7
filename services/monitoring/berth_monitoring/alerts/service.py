"""Alerts owed by a monitor's transition: one Notification per enabled channel, delivered by
Task.DELIVER_NOTIFICATION through the outbox.

A minimal version written with the checker (the alerts side owns this module and replaces it
with the same `notify` signature). The dedupe key is unique, so a retried batch, a second
worker or a reminder slot already served inserts nothing.
"""

import math
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import enqueue_task
from berth_monitoring.checks import dao
from berth_monitoring.enums import NotificationEvent, SubjectKind
from berth_monitoring.models import Incident, Monitor
from berth_monitoring.names import QUEUE, Task


def reminder_slot(monitor: Monitor, now: datetime) -> int:
    """Which resend period of the current outage `now` falls in (0: the DOWN alert's own)."""
    if monitor.resend_minutes <= 0:
        return 0
    minutes = (now - monitor.state_changed_at).total_seconds() / 60
    return max(0, math.floor(minutes / monitor.resend_minutes))


async def notify(
    session: AsyncSession, monitor: Monitor, incident: Incident, event: str, detail: str | None
) -> list[uuid.UUID]:
    """Queue `event` (down / recovered / reminder) of `monitor` in `incident` to each channel."""
    now = datetime.now(UTC)
    key = f"{event}:{monitor.id}:{incident.id}"
    if event == NotificationEvent.REMINDER:
        key += f":{reminder_slot(monitor, now)}"
    channels = await dao.enabled_channels_of(session, monitor)
    payload = {
        "event": event,
        "monitor_id": str(monitor.id),
        "monitor_name": monitor.name,
        "incident_id": str(incident.id),
        "incident_title": incident.title,
        "detail": detail,
        "at": now.isoformat(),
    }
    queued: list[uuid.UUID] = []
    for channel_id in channels:
        notification_id = await dao.insert_notification(
            session,
            owner_id=monitor.owner_id,
            channel_id=channel_id,
            subject_kind=SubjectKind.MONITOR,
            subject_id=monitor.id,
            incident_id=incident.id,
            event=event,
            dedupe_key=f"{key}:{channel_id}",
            payload=payload,
        )
        if notification_id is not None:
            queued.append(notification_id)
            await enqueue_task(
                session,
                Task.DELIVER_NOTIFICATION,
                queue=QUEUE,
                kwargs={"notification_id": str(notification_id)},
            )
    return queued
