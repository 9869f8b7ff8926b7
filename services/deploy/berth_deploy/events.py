"""Events deploy publishes (through the outbox, after commit) for billing and others.

An instance is one running release process of an app; billing charges the interval between
its `started` and its `stopped` / `suspended` / `deleted`.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import publish_event
from berth_deploy.models import App, Instance

STARTED = "deploy.instance.started"
STOPPED = "deploy.instance.stopped"
SUSPENDED = "deploy.instance.suspended"
DELETED = "deploy.instance.deleted"


def _iso(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


async def instance_started(session: AsyncSession, app: App, instance: Instance) -> None:
    await publish_event(
        session,
        STARTED,
        {
            "instance_id": str(instance.id),
            "app_id": str(app.id),
            "app_slug": app.slug,
            "owner_id": str(app.owner_id),
            "plan_key": instance.plan_key,
            "started_at": _iso(instance.started_at),
        },
    )


async def instance_ended(
    session: AsyncSession, key: str, app: App, instance: Instance, reason: str
) -> None:
    """stopped / suspended / deleted: the end of the instance's billed interval."""
    payload: dict[str, Any] = {
        "instance_id": str(instance.id),
        "app_id": str(app.id),
        "owner_id": str(app.owner_id),
        "plan_key": instance.plan_key,
        "stopped_at": _iso(instance.stopped_at),
    }
    if key != DELETED:
        payload["reason"] = reason
    await publish_event(session, key, payload)
