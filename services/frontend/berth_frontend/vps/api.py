"""VPS: the list, the order form (plan with its price, name, SSH public key), a machine's page
(status, kind, the ssh command, actions, resize, snapshots, operations with their progress),
and the actions on it. The console has a page of its own (vps/console.py)."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.panel.api import show
from berth_frontend.vps import service
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, ServiceDown, section, sections
from berth_frontend.web.flash import FlashKind
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state

router = panel_router(prefix="/partials/vps")

SIZE_FIELDS = ("vcpus", "memory_mb", "disk_gb")


async def machines(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"status": service.STATUSES})
    found = await section(service.machines(ctx.backends, ctx.viewer.caller, table))
    return {"machines": found, "table": table, "statuses": service.STATUSES}


async def new_machine(ctx: ScreenContext) -> dict[str, Any]:
    plans = await section(service.plans(ctx.backends, ctx.viewer.caller))
    return {"plans": plans, "form": {"plan": ctx.query.get("plan", "")}, "errors": {}}


async def machine(ctx: ScreenContext) -> dict[str, Any]:
    vps_id = str(ctx.params["vps_id"])
    found = await service.machine(ctx.backends, ctx.viewer.caller, vps_id)
    operations, snapshots, plans = await sections(
        service.operations(ctx.backends, ctx.viewer.caller, vps_id),
        service.snapshots(ctx.backends, ctx.viewer.caller, vps_id),
        service.plans(ctx.backends, ctx.viewer.caller),
    )
    plan = None
    if plans.ok:
        plan = next((p for p in plans.data if p["key"] == found["plan"]), None)
    busy = found["status"] in service.TRANSITIONAL or found.get("active_operation_id")
    return {
        "vps": found,
        "title": found["name"],
        "operations": operations,
        "snapshots": snapshots,
        "plan": plan,
        "kinds": service.KINDS,
        "transitional": bool(busy),
        "console_open": found["status"] in service.CONSOLE_STATUSES,
    }


async def machine_status(ctx: ScreenContext) -> dict[str, Any]:
    return await machine(ctx)


@router.post("")
async def order(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request, multiline=("ssh_public_key",))
    for name in ("name", "plan", "ssh_public_key"):
        form.require(name)
    if form.ok:
        body = {
            "name": form.get("name").lower(),
            "plan": form.get("plan"),
            "ssh_public_key": form.get("ssh_public_key"),
        }
        try:
            created = await service.order(request.app.state.backends, viewer.caller, body)
        except ApiError as exc:
            if exc.status == 401:
                raise
            form.absorb(exc)
        except ServiceDown as exc:
            form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            vps = created["vps"]
            outcome = flash.success(f"{vps['name']} ordered: it is being made and booted.")
            path = f"vps/{vps['id']}"
            return await show(request, viewer, PANEL, path, full=False, flash=outcome, push=True)
    return await show(
        request,
        viewer,
        PANEL,
        "vps/new",
        full=False,
        extra={"form": form.values, "errors": form.errors},
    )


@router.post("/{vps_id}/resize")
async def resize(request: Request, viewer: CurrentViewer, vps_id: uuid.UUID) -> Response:
    form = await read_form(request)
    body: dict[str, int] = {}
    problem = None
    for name in SIZE_FIELDS:
        raw = form.get(name)
        if not raw:
            continue
        if not re.fullmatch(r"\d{1,7}", raw):
            problem = f"{name.replace('_', ' ')}: a whole number"
            break
        body[name] = int(raw)
    if problem or not body:
        outcome = flash.failure(problem or "Give a new size.")
    else:
        outcome = await flash.outcome_of(
            service.resize(request.app.state.backends, viewer.caller, str(vps_id), body),
            "Resize queued: a running machine restarts to take its new size.",
        )
    return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)


@router.post("/{vps_id}/snapshots")
async def take_snapshot(request: Request, viewer: CurrentViewer, vps_id: uuid.UUID) -> Response:
    form = await read_form(request)
    outcome = await flash.outcome_of(
        service.take_snapshot(
            request.app.state.backends, viewer.caller, str(vps_id), form.get("name") or None
        ),
        "Snapshot queued: the machine pauses for a moment while it is taken.",
    )
    return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)


@router.post("/{vps_id}/snapshots/{snapshot_id}/restore")
async def restore_snapshot(
    request: Request, viewer: CurrentViewer, vps_id: uuid.UUID, snapshot_id: uuid.UUID
) -> Response:
    outcome = await flash.outcome_of(
        service.restore_snapshot(
            request.app.state.backends, viewer.caller, str(vps_id), str(snapshot_id)
        ),
        "Restore queued: the disk goes back to the snapshot.",
    )
    return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)


@router.post("/{vps_id}/snapshots/{snapshot_id}/delete")
async def delete_snapshot(
    request: Request, viewer: CurrentViewer, vps_id: uuid.UUID, snapshot_id: uuid.UUID
) -> Response:
    outcome = await flash.outcome_of(
        service.delete_snapshot(
            request.app.state.backends, viewer.caller, str(vps_id), str(snapshot_id)
        ),
        "Snapshot deletion queued.",
    )
    return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)


@router.post("/{vps_id}/delete")
async def delete(request: Request, viewer: CurrentViewer, vps_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete(request.app.state.backends, viewer.caller, str(vps_id)),
        "The VPS is being deleted: the machine, its disk and its snapshots go.",
    )
    if outcome["kind"] == FlashKind.ERROR:
        return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)
    return await show(request, viewer, PANEL, "vps", full=False, flash=outcome, push=True)


@router.post("/{vps_id}/{action}")
async def act(request: Request, viewer: CurrentViewer, vps_id: uuid.UUID, action: str) -> Response:
    if action not in service.ACTIONS:
        raise StarletteHTTPException(404)
    outcome = await flash.outcome_of(
        service.act(request.app.state.backends, viewer.caller, str(vps_id), action),
        service.ACTIONS[action][2],
    )
    return await show(request, viewer, PANEL, f"vps/{vps_id}", full=False, flash=outcome)
