"""The admin area's view of every user's apps, and acting on them."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.admin.apps import service
from berth_frontend.apps import service as apps_service
from berth_frontend.apps.service import AppStatus, LogKind
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import AdminViewer, admin_router
from berth_frontend.web.backends import ApiError, Section, section, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import ADMIN, ScreenContext
from berth_frontend.web.tables import table_state

router = admin_router(prefix="/admin/partials/apps")

DONE = {
    "stop": "Stop queued.",
    "start": "Start queued.",
    "restart": "Restart queued.",
    "unsuspend": "Unsuspend queued: the app starts again.",
}


async def apps(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        sorts=("created_at", "updated_at", "name", "slug", "status"),
        default_sort="-created_at",
        filters={"status": apps_service.STATUSES, "q": None, "owner_id": None},
    )
    owner = table.filters.get("owner_id")
    if owner is not None:
        try:
            uuid.UUID(owner)
        except ValueError:
            table.filters.pop("owner_id")
    (found,) = await sections(service.apps(ctx.backends, ctx.viewer.caller, table))
    return {"apps": found, "table": table, "statuses": apps_service.STATUSES}


async def app(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    found = await service.app(ctx.backends, ctx.viewer.caller, app_id)
    kind = LogKind.RUN if found["status"] == AppStatus.RUNNING else LogKind.BUILD
    operations = await section(service.operations(ctx.backends, ctx.viewer.caller, app_id))
    try:
        logs = await section(
            apps_service.logs(ctx.backends, ctx.viewer.caller, app_id, kind, 0, admin=True)
        )
    except ApiError as exc:
        if exc.status != 404:
            raise
        logs = Section(error=exc)  # never deployed: no logs yet
    return {
        "app": found,
        "title": found["name"] or found["slug"],
        "operations": operations,
        "logs": logs,
        "log_kind": kind,
    }


@router.post("/{app_id}/suspend")
async def suspend(request: Request, viewer: AdminViewer, app_id: uuid.UUID) -> Response:
    form = await read_form(request)
    reason = form.get("reason")
    if not reason:
        outcome = flash.failure("Give a reason: the owner sees it.")
    else:
        outcome = await flash.outcome_of(
            service.suspend(request.app.state.backends, viewer.caller, str(app_id), reason),
            "Suspension queued: the app stops and stays down until unsuspended.",
        )
    return await show(request, viewer, ADMIN, f"apps/{app_id}", full=False, flash=outcome)


@router.post("/{app_id}/delete")
async def delete(request: Request, viewer: AdminViewer, app_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete(request.app.state.backends, viewer.caller, str(app_id)),
        "The app is being deleted.",
    )
    return await show(request, viewer, ADMIN, "apps", full=False, flash=outcome, push=True)


@router.post("/{app_id}/{action}")
async def act(request: Request, viewer: AdminViewer, app_id: uuid.UUID, action: str) -> Response:
    if action not in service.ACTIONS or not re.fullmatch(r"[a-z]+", action):
        raise StarletteHTTPException(404)
    outcome = await flash.outcome_of(
        service.act(request.app.state.backends, viewer.caller, str(app_id), action), DONE[action]
    )
    return await show(request, viewer, ADMIN, f"apps/{app_id}", full=False, flash=outcome)
