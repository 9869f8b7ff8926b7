"""Admins' SLA settings: policies per plan tier and priority, and business calendars.
A calendar is checked by building it (berth_tickets.sla.service.Calendar) before it is
stored, so a stored calendar always makes a working week."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, Unprocessable
from berth_tickets.models import BusinessCalendar, SlaPolicy
from berth_tickets.sla import service as sla
from berth_tickets.sla.dao import CalendarDAO, SlaPolicyDAO


class InvalidCalendar(Unprocessable):
    code = "invalid_calendar"


def _check(timezone: str, weekly_hours: dict, holidays: list) -> None:
    try:
        sla.Calendar.build(timezone, weekly_hours, holidays)
    except sla.InvalidCalendar as exc:
        raise InvalidCalendar(str(exc)) from None


class WindowTooLong(Unprocessable):
    code = "window_too_long"


#: any moment serves: a working week repeats, holidays aside
PROBE_START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOWS = ("first_response_minutes", "next_response_minutes", "resolution_minutes")


def _fits(calendar: BusinessCalendar | None, minutes: dict[str, int]) -> None:
    """Each window must end within the search horizon over the calendar's hours."""
    if calendar is None:
        return
    built = sla.Calendar.build(calendar.timezone, calendar.weekly_hours, calendar.holidays)
    for name, value in minutes.items():
        try:
            sla.add_business(PROBE_START, value, built)
        except sla.InvalidCalendar:
            raise WindowTooLong(
                f"{name} does not fit in {sla.MAX_SEARCH_DAYS} days of this calendar's hours",
                details={"window": name, "minutes": value},
            ) from None


async def _calendar(session: AsyncSession, calendar_id: uuid.UUID | None):
    if calendar_id is None:
        return None
    return await CalendarDAO(session).get_or_404(calendar_id)


async def policies(session: AsyncSession) -> list[SlaPolicy]:
    return await SlaPolicyDAO(session).all()


async def create_policy(session: AsyncSession, values: dict[str, Any]) -> SlaPolicy:
    _fits(await _calendar(session, values.get("calendar_id")), {w: values[w] for w in WINDOWS})
    dao = SlaPolicyDAO(session)
    existing = await dao.get_by(
        SlaPolicy.plan_tier == values["plan_tier"], SlaPolicy.priority == values["priority"]
    )
    if existing is not None:
        raise Conflict("A policy for this tier and priority exists; change it instead")
    return await dao.create(**values)


async def update_policy(session: AsyncSession, policy_id: uuid.UUID, values: dict) -> SlaPolicy:
    """Applies to tickets opened (or reopened) from now; running due moments stay."""
    found = await SlaPolicyDAO(session).get_or_404(policy_id)
    calendar_id = values["calendar_id"] if "calendar_id" in values else found.calendar_id
    windows = {w: values.get(w) or getattr(found, w) for w in WINDOWS}
    _fits(await _calendar(session, calendar_id), windows)
    return await SlaPolicyDAO(session).update(found, **values)


async def delete_policy(session: AsyncSession, policy_id: uuid.UUID) -> None:
    await SlaPolicyDAO(session).delete(await SlaPolicyDAO(session).get_or_404(policy_id))


async def calendars(session: AsyncSession) -> list[BusinessCalendar]:
    return await CalendarDAO(session).all()


async def create_calendar(session: AsyncSession, values: dict[str, Any]) -> BusinessCalendar:
    _check(values["timezone"], values["weekly_hours"], values["holidays"])
    if await CalendarDAO(session).get_by(BusinessCalendar.name == values["name"]) is not None:
        raise Conflict(f"A calendar named {values['name']!r} exists")
    return await CalendarDAO(session).create(**values)


async def update_calendar(
    session: AsyncSession, calendar_id: uuid.UUID, values: dict[str, Any]
) -> BusinessCalendar:
    found = await CalendarDAO(session).get_or_404(calendar_id)
    merged = {
        "timezone": values.get("timezone", found.timezone),
        "weekly_hours": values.get("weekly_hours", found.weekly_hours),
        "holidays": values.get("holidays", found.holidays),
    }
    _check(merged["timezone"], merged["weekly_hours"], merged["holidays"])
    updated = await CalendarDAO(session).update(found, **values)
    for policy in await SlaPolicyDAO(session).using_calendar(calendar_id):
        _fits(updated, {w: getattr(policy, w) for w in WINDOWS})
    return updated


async def delete_calendar(session: AsyncSession, calendar_id: uuid.UUID) -> None:
    found = await CalendarDAO(session).get_or_404(calendar_id)
    if await CalendarDAO(session).in_use(calendar_id):
        raise Conflict("SLA policies use this calendar; change them first")
    await CalendarDAO(session).delete(found)
