"""The admin area's support desk settings: departments and their agents, canned replies,
SLA policies and business calendars."""

import re
import uuid
from collections.abc import Awaitable
from datetime import date
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.admin.support import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import AdminViewer, admin_router
from berth_frontend.web.backends import sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import ADMIN, ScreenContext

router = admin_router(prefix="/admin/partials/support")
UUID = re.compile(r"^[0-9a-fA-F-]{36}$")


async def departments(ctx: ScreenContext) -> dict[str, Any]:
    (found,) = await sections(service.departments(ctx.backends, ctx.viewer.caller))
    return {"departments": found}


async def canned(ctx: ScreenContext) -> dict[str, Any]:
    found, depts = await sections(
        service.canned_replies(ctx.backends, ctx.viewer.caller),
        service.departments(ctx.backends, ctx.viewer.caller),
    )
    names = {d["id"]: d["name"] for d in depts.data} if depts.ok else {}
    return {"canned": found, "departments": depts, "department_names": names}


async def sla(ctx: ScreenContext) -> dict[str, Any]:
    policies, calendars = await sections(
        service.policies(ctx.backends, ctx.viewer.caller),
        service.calendars(ctx.backends, ctx.viewer.caller),
    )
    names = {c["id"]: c["name"] for c in calendars.data} if calendars.ok else {}
    return {
        "policies": policies,
        "calendars": calendars,
        "calendar_names": names,
        "priorities": service.PRIORITIES,
        "hours_of": service.format_weekly_hours,
    }


async def _done(
    request: Request, viewer: Any, screen: str, call: Awaitable[Any], message: str
) -> Response:
    outcome = await flash.outcome_of(call, message)
    return await show(request, viewer, ADMIN, screen, full=False, flash=outcome)


def _refused(request: Request, viewer: Any, screen: str, message: str) -> Awaitable[Response]:
    return show(request, viewer, ADMIN, screen, full=False, flash=flash.failure(message))


@router.post("/departments")
async def create_department(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request)
    if not form.get("slug") or not form.get("name"):
        return await _refused(request, viewer, "support", "Give the department a slug and a name.")
    body = {
        "slug": form.get("slug").lower(),
        "name": form.get("name"),
        "description": form.get("description"),
    }
    call = service.create_department(request.app.state.backends, viewer.caller, body)
    return await _done(request, viewer, "support", call, f"Department {body['name']} created.")


@router.post("/departments/{department_id}/active")
async def department_active(
    request: Request, viewer: AdminViewer, department_id: uuid.UUID
) -> Response:
    form = await read_form(request)
    active = form.get("active") == "true"
    call = service.update_department(
        request.app.state.backends, viewer.caller, str(department_id), {"is_active": active}
    )
    done = "Department reopened." if active else "Department closed to new tickets."
    return await _done(request, viewer, "support", call, done)


@router.post("/departments/{department_id}/agents")
async def add_agent(request: Request, viewer: AdminViewer, department_id: uuid.UUID) -> Response:
    form = await read_form(request)
    agent = form.get("agent_id")
    if not UUID.match(agent):
        return await _refused(request, viewer, "support", "Give the support person's user id.")
    call = service.put_agent(request.app.state.backends, viewer.caller, str(department_id), agent)
    return await _done(request, viewer, "support", call, "Agent added to the round-robin.")


@router.post("/departments/{department_id}/agents/{agent_id}/delete")
async def remove_agent(
    request: Request, viewer: AdminViewer, department_id: uuid.UUID, agent_id: uuid.UUID
) -> Response:
    call = service.remove_agent(
        request.app.state.backends, viewer.caller, str(department_id), str(agent_id)
    )
    return await _done(request, viewer, "support", call, "Agent removed.")


@router.post("/canned")
async def create_canned(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request, multiline=("body",))
    if not form.get("title") or not form.get("body"):
        return await _refused(request, viewer, "support/canned", "Give a title and a text.")
    department = form.get("department_id")
    body = {
        "title": form.get("title"),
        "body": form.get("body"),
        "department_id": department if UUID.match(department) else None,
    }
    call = service.create_canned(request.app.state.backends, viewer.caller, body)
    return await _done(request, viewer, "support/canned", call, "Canned reply saved.")


@router.post("/canned/{reply_id}/delete")
async def delete_canned(request: Request, viewer: AdminViewer, reply_id: uuid.UUID) -> Response:
    call = service.delete_canned(request.app.state.backends, viewer.caller, str(reply_id))
    return await _done(request, viewer, "support/canned", call, "Canned reply deleted.")


def _minutes(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) <= 525_600 else None


@router.post("/sla")
async def create_policy(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request)
    names = ("first_response_minutes", "next_response_minutes", "resolution_minutes")
    minutes = {name: _minutes(form.get(name)) for name in names}
    if None in minutes.values() or form.get("priority") not in service.PRIORITIES:
        return await _refused(
            request, viewer, "support/sla", "Choose a priority and give whole minutes (1 or more)."
        )
    calendar = form.get("calendar_id")
    body = {
        "plan_tier": form.get("plan_tier") or "default",
        "priority": form.get("priority"),
        **minutes,
        "calendar_id": calendar if UUID.match(calendar) else None,
    }
    call = service.create_policy(request.app.state.backends, viewer.caller, body)
    return await _done(request, viewer, "support/sla", call, "SLA policy saved.")


@router.post("/sla/{policy_id}/delete")
async def delete_policy(request: Request, viewer: AdminViewer, policy_id: uuid.UUID) -> Response:
    call = service.delete_policy(request.app.state.backends, viewer.caller, str(policy_id))
    return await _done(request, viewer, "support/sla", call, "SLA policy deleted.")


@router.post("/calendars")
async def create_calendar(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request, multiline=("weekly_hours",))
    hours, problems = service.parse_weekly_hours(form.get("weekly_hours"))
    holidays: list[str] = []
    for raw in form.get("holidays").replace(",", " ").split():
        try:
            holidays.append(date.fromisoformat(raw).isoformat())
        except ValueError:
            problems.append(f"{raw!r} is not a date (YYYY-MM-DD)")
    if not form.get("name") or not form.get("timezone"):
        problems.append("Give the calendar a name and a timezone.")
    if problems:
        return await _refused(request, viewer, "support/sla", "; ".join(problems))
    body = {
        "name": form.get("name"),
        "timezone": form.get("timezone"),
        "weekly_hours": hours,
        "holidays": holidays,
    }
    call = service.create_calendar(request.app.state.backends, viewer.caller, body)
    return await _done(request, viewer, "support/sla", call, "Calendar saved.")


@router.post("/calendars/{calendar_id}/delete")
async def delete_calendar(
    request: Request, viewer: AdminViewer, calendar_id: uuid.UUID
) -> Response:
    call = service.delete_calendar(request.app.state.backends, viewer.caller, str(calendar_id))
    return await _done(request, viewer, "support/sla", call, "Calendar deleted.")
