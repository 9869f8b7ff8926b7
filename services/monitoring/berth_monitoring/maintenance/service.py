"""Maintenance windows: planned periods in which a user's monitors (all, or the listed ones)
are checked but page nobody (the checks treat an active window as a mute).

Rules: a window ends after it starts and lasts at most MAX_LENGTH; it lists only the owner's
monitors; a window that has ended is history and cannot change.
"""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.pagination import PageParams
from berth_monitoring.maintenance import schemas
from berth_monitoring.maintenance.dao import WindowDAO
from berth_monitoring.models import MaintenanceWindow

MAX_LENGTH = timedelta(days=31)


async def _check(
    dao: WindowDAO,
    owner_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    monitor_ids: list[uuid.UUID] | None,
    now: datetime,
) -> list[uuid.UUID] | None:
    if ends_at <= starts_at:
        raise Unprocessable("A window ends after it starts", details={"field": "ends_at"})
    if ends_at <= now:
        raise Unprocessable("A window must end in the future", details={"field": "ends_at"})
    if ends_at - starts_at > MAX_LENGTH:
        raise Unprocessable(
            f"A window lasts at most {MAX_LENGTH.days} days", details={"field": "ends_at"}
        )
    if monitor_ids is None:
        return None
    wanted = list(dict.fromkeys(monitor_ids))
    if not wanted:
        raise Unprocessable(
            "List at least one monitor, or none for all", details={"field": "monitor_ids"}
        )
    known = await dao.owned_monitor_ids(owner_id, wanted)
    unknown = [str(m) for m in wanted if m not in known]
    if unknown:
        raise Unprocessable("Unknown monitors", details={"monitor_ids": unknown})
    return wanted


async def create(
    session: AsyncSession, owner_id: uuid.UUID, body: schemas.WindowCreate
) -> MaintenanceWindow:
    dao = WindowDAO(session)
    now = datetime.now(UTC)
    ids = await _check(dao, owner_id, body.starts_at, body.ends_at, body.monitor_ids, now)
    return await dao.create(
        owner_id=owner_id,
        name=body.name.strip() or "Maintenance",
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        monitor_ids=ids,
    )


async def _owned_for_update(
    session: AsyncSession, owner_id: uuid.UUID, window_id: uuid.UUID
) -> MaintenanceWindow:
    window = await WindowDAO(session).owned_for_update(owner_id, window_id)
    if window is None:
        raise NotFound("Maintenance window not found")
    return window


async def owned(
    session: AsyncSession, owner_id: uuid.UUID, window_id: uuid.UUID
) -> MaintenanceWindow:
    window = await WindowDAO(session).get_by(
        MaintenanceWindow.id == window_id, MaintenanceWindow.owner_id == owner_id
    )
    if window is None:
        raise NotFound("Maintenance window not found")
    return window


def _refuse_past(window: MaintenanceWindow, now: datetime) -> None:
    if window.ends_at <= now:
        raise Conflict("This window has ended; past windows are kept as they were")


async def update(
    session: AsyncSession, owner_id: uuid.UUID, window_id: uuid.UUID, body: schemas.WindowUpdate
) -> MaintenanceWindow:
    dao = WindowDAO(session)
    window = await _owned_for_update(session, owner_id, window_id)
    now = datetime.now(UTC)
    _refuse_past(window, now)
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k != "monitor_ids")
    if nulls:
        raise Unprocessable(f"{', '.join(nulls)} cannot be empty", details={"fields": nulls})
    if (
        "starts_at" in changes
        and window.starts_at <= now
        and changes["starts_at"] != window.starts_at
    ):
        raise Conflict("This window has started; only its end, name and monitors can change")
    ids = window.monitor_ids if "monitor_ids" not in changes else changes["monitor_ids"]
    changes["monitor_ids"] = await _check(
        dao,
        owner_id,
        changes.get("starts_at", window.starts_at),
        changes.get("ends_at", window.ends_at),
        ids,
        now,
    )
    if "name" in changes:
        changes["name"] = changes["name"].strip() or window.name
    return await dao.update(window, **changes)


async def delete(session: AsyncSession, owner_id: uuid.UUID, window_id: uuid.UUID) -> None:
    window = await _owned_for_update(session, owner_id, window_id)
    _refuse_past(window, datetime.now(UTC))
    await WindowDAO(session).delete(window)


async def page(
    session: AsyncSession, owner_id: uuid.UUID, params: PageParams, when: str | None
) -> tuple[list[MaintenanceWindow], int]:
    return await WindowDAO(session).page(params, owner_id, when, datetime.now(UTC))
