"""The admin area's view of every VPS (owner, node, kind, resource use), acting on them, and
the audit of console sessions."""

import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.admin.vps import service
from berth_frontend.panel.api import show
from berth_frontend.vps import service as vps_service
from berth_frontend.web import flash
from berth_frontend.web.access import AdminViewer, admin_router
from berth_frontend.web.backends import section
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import ADMIN, ScreenContext
from berth_frontend.web.tables import table_state

router = admin_router(prefix="/admin/partials/vps")


def _uuid_filter(table, name: str) -> None:
    value = table.filters.get(name)
    if value is not None:
        try:
            uuid.UUID(value)
        except ValueError:
            table.filters.pop(name)


async def machines(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"status": vps_service.STATUSES, "owner_id": None})
    _uuid_filter(table, "owner_id")
    found = await section(service.machines(ctx.backends, ctx.viewer.caller, table))
    return {"machines": found, "table": table, "statuses": vps_service.STATUSES}


async def console_sessions(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        sorts=("opened_at", "closed_at"),
        default_sort="-opened_at",
        filters={"vps_id": None, "user_id": None, "open": ("true",)},
    )
    _uuid_filter(table, "vps_id")
    _uuid_filter(table, "user_id")
    found = await section(service.console_sessions(ctx.backends, ctx.viewer.caller, table))
    return {"sessions": found, "table": table}


@router.post("/{vps_id}/delete")
async def delete(request: Request, viewer: AdminViewer, vps_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete(request.app.state.backends, viewer.caller, str(vps_id)),
        "The VPS is being deleted.",
    )
    return await show(request, viewer, ADMIN, "vps", full=False, flash=outcome)


@router.post("/{vps_id}/{action}")
async def act(request: Request, viewer: AdminViewer, vps_id: uuid.UUID, action: str) -> Response:
    if action not in service.ACTIONS:
        raise StarletteHTTPException(404)
    form = await read_form(request)
    outcome = await flash.outcome_of(
        service.act(
            request.app.state.backends,
            viewer.caller,
            str(vps_id),
            action,
            form.get("reason") or None,
        ),
        service.ACTIONS[action],
    )
    return await show(request, viewer, ADMIN, "vps", full=False, flash=outcome)
