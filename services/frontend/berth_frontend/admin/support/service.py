"""The desk's settings over the tickets admin API: departments and their agents, canned
replies, SLA policies and business calendars."""

import asyncio
import re
from typing import Any

from berth_frontend.web.backends import Backends, Caller

ADMIN = "/api/tickets/v1/admin"
STAFF = "/api/tickets/v1/staff"
PRIORITIES = ("low", "normal", "high", "urgent")
_HOURS = re.compile(r"^([1-7])(?:-([1-7]))?\s+(.+)$")
_SPAN = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")


async def departments(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    found = await backends.tickets.get(f"{ADMIN}/departments", caller)
    agents = await asyncio.gather(
        *(backends.tickets.get(f"{ADMIN}/departments/{d['id']}/agents", caller) for d in found)
    )
    return [{**d, "agents": a} for d, a in zip(found, agents, strict=True)]


async def create_department(backends: Backends, caller: Caller, body: dict[str, Any]) -> Any:
    return await backends.tickets.post(f"{ADMIN}/departments", caller, body)


async def update_department(
    backends: Backends, caller: Caller, department_id: str, body: dict[str, Any]
) -> Any:
    return await backends.tickets.patch(f"{ADMIN}/departments/{department_id}", caller, body)


async def put_agent(backends: Backends, caller: Caller, department_id: str, agent_id: str) -> Any:
    return await backends.tickets.put(
        f"{ADMIN}/departments/{department_id}/agents/{agent_id}", caller, {"is_active": True}
    )


async def remove_agent(
    backends: Backends, caller: Caller, department_id: str, agent_id: str
) -> Any:
    return await backends.tickets.delete(
        f"{ADMIN}/departments/{department_id}/agents/{agent_id}", caller
    )


async def canned_replies(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{STAFF}/canned-replies", caller)


async def create_canned(backends: Backends, caller: Caller, body: dict[str, Any]) -> Any:
    return await backends.tickets.post(f"{ADMIN}/canned-replies", caller, body)


async def delete_canned(backends: Backends, caller: Caller, reply_id: str) -> Any:
    return await backends.tickets.delete(f"{ADMIN}/canned-replies/{reply_id}", caller)


async def policies(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{ADMIN}/sla-policies", caller)


async def create_policy(backends: Backends, caller: Caller, body: dict[str, Any]) -> Any:
    return await backends.tickets.post(f"{ADMIN}/sla-policies", caller, body)


async def delete_policy(backends: Backends, caller: Caller, policy_id: str) -> Any:
    return await backends.tickets.delete(f"{ADMIN}/sla-policies/{policy_id}", caller)


async def calendars(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{ADMIN}/calendars", caller)


async def create_calendar(backends: Backends, caller: Caller, body: dict[str, Any]) -> Any:
    return await backends.tickets.post(f"{ADMIN}/calendars", caller, body)


async def delete_calendar(backends: Backends, caller: Caller, calendar_id: str) -> Any:
    return await backends.tickets.delete(f"{ADMIN}/calendars/{calendar_id}", caller)


def parse_weekly_hours(text: str) -> tuple[dict[str, list[list[str]]], list[str]]:
    """Lines like `1-5 09:00-17:00` or `6 10:00-12:00, 13:00-15:00` (ISO weekdays, Monday 1)
    -> the API's weekly hours, and the problems found."""
    hours: dict[str, list[list[str]]] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        found = _HOURS.match(line)
        if not found:
            problems.append(f"line {number}: write days then hours, e.g. 1-5 09:00-17:00")
            continue
        first, last = int(found.group(1)), int(found.group(2) or found.group(1))
        spans = []
        for part in found.group(3).split(","):
            span = _SPAN.match(part.strip())
            if not span:
                problems.append(f"line {number}: {part.strip()!r} is not HH:MM-HH:MM")
                continue
            spans.append([span.group(1), span.group(2)])
        for day in range(first, last + 1):
            hours.setdefault(str(day), []).extend(spans)
    return hours, problems


def format_weekly_hours(hours: dict[str, list[list[str]]]) -> str:
    return "; ".join(
        f"{day}: " + ", ".join(f"{a}-{b}" for a, b in spans) for day, spans in sorted(hours.items())
    )
