"""Monitoring screens: monitors (list with aggregates, add, detail with uptime, the
response-time chart, recent failures and incidents), incidents with their timelines, and
maintenance windows; the actions on them."""

import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.monitoring import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, Section, ServiceDown, section, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state

router = panel_router(prefix="/partials/monitoring")

ACTIONS = {
    "pause": "Paused: the monitor is not checked until you resume it.",
    "resume": "Resumed: the next check runs in a moment.",
    "heartbeat-token": "A new push URL; the old one no longer works.",
    "delete": "Monitor deleted.",
}
FORM_FIELDS = {"http": "http", "url": "url", "host": "host", "port": "port"}


async def monitors(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        sorts=("name", "created_at", "state", "last_checked_at", "last_latency_ms"),
        default_sort="-created_at",
        filters={"state": service.STATES, "kind": None, "q": None},
    )
    found = await section(service.monitors(ctx.backends, ctx.viewer.caller, table))
    return {"monitors": found, "table": table, "states": service.STATES, "percent": service.percent}


async def new_monitor(ctx: ScreenContext) -> dict[str, Any]:
    kind = ctx.query.get("kind", "http")
    form = {
        "kind": kind if kind in service.KINDS else "http",
        "interval_seconds": "60",
        "failure_threshold": "3",
        "success_threshold": "2",
        "expected_status": "200-399",
    }
    return {"form": form, "errors": {}}


async def monitor_detail(ctx: ScreenContext) -> dict[str, Any]:
    monitor_id = str(ctx.params["monitor_id"])
    range_ = ctx.query.get("range", "24h")
    range_ = range_ if range_ in service.RANGES else "24h"
    found = await service.monitor(ctx.backends, ctx.viewer.caller, monitor_id)
    history = table_state(ctx.query)
    stats, incidents = await sections(
        service.stats(ctx.backends, ctx.viewer.caller, monitor_id, range_),
        service.incidents(ctx.backends, ctx.viewer.caller, history, monitor_id),
    )
    chart = service.latency_chart(stats.data["latency"], range_) if stats.ok else None
    return {
        "monitor": found,
        "title": found["name"],
        "stats": stats,
        "incidents": incidents,
        "chart": chart,
        "range": range_,
        "ranges": service.RANGES,
        "percent": service.percent,
    }


async def monitor_channels(ctx: ScreenContext) -> dict[str, Any]:
    """The monitor's alert channels, checked where linked (a lazy part of its page)."""
    monitor_id = str(ctx.params["monitor_id"])
    links = await service.channel_links(ctx.backends, ctx.viewer.caller, monitor_id)
    try:
        (available,) = await sections(service.channels(ctx.backends, ctx.viewer.caller))
    except ApiError as exc:  # no channels API to ask (a 404 here is not about the monitor)
        if exc.status == 401:
            raise
        available = Section(error=exc)
    return {"monitor_id": monitor_id, "linked": set(links["channel_ids"]), "channels": available}


async def incidents(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"status": ("open", "resolved")})
    found = await section(service.incidents(ctx.backends, ctx.viewer.caller, table))
    return {"incidents": found, "table": table}


async def incident_detail(ctx: ScreenContext) -> dict[str, Any]:
    found = await service.incident(ctx.backends, ctx.viewer.caller, str(ctx.params["incident_id"]))
    return {"incident": found, "title": found["title"]}


async def maintenance(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"when": service.WINDOW_FILTERS})
    found, choices = await sections(
        service.windows(ctx.backends, ctx.viewer.caller, table),
        service.monitors(ctx.backends, ctx.viewer.caller, table_state({"size": "100"})),
    )
    return {
        "windows": found,
        "choices": choices,
        "table": table,
        "form": {"name": "", **service.default_window()},
        "errors": {},
    }


def _refused(exc: ApiError | ServiceDown) -> bool:
    return isinstance(exc, ApiError) and exc.status == 401


@router.post("")
async def create(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request)
    body = service.monitor_body(form)
    if form.ok:
        try:
            created = await service.create(request.app.state.backends, viewer.caller, body)
        except (ApiError, ServiceDown) as exc:
            if _refused(exc):
                raise
            if isinstance(exc, ApiError):
                form.absorb(exc)
                field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
                if field:
                    form.errors[field] = exc.message
            else:
                form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            outcome = flash.success(f"{created['name']} added; its first check runs shortly.")
            if created.get("push_url"):
                outcome = flash.success(
                    "Heartbeat monitor added. Call this URL from your job (GET or POST) at "
                    "every run; it is shown only now.",
                    secret=created["push_url"],
                )
            path = f"monitoring/{created['id']}"
            return await show(request, viewer, PANEL, path, full=False, flash=outcome, push=True)
    return await show(
        request,
        viewer,
        PANEL,
        "monitoring/new",
        full=False,
        extra={"form": form.values, "errors": form.errors},
    )


@router.post("/maintenance")
async def create_window(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request)
    body = service.window_body(form)
    outcome: dict[str, Any] | None = None
    if form.ok:
        try:
            await service.create_window(request.app.state.backends, viewer.caller, body)
        except (ApiError, ServiceDown) as exc:
            if _refused(exc):
                raise
            outcome = flash.from_exception(exc)
        else:
            return await show(
                request,
                viewer,
                PANEL,
                "monitoring/maintenance",
                full=False,
                flash=flash.success(f"Maintenance window {body['name']} planned."),
            )
    return await show(
        request,
        viewer,
        PANEL,
        "monitoring/maintenance",
        full=False,
        flash=outcome or flash.failure("Please correct the marked fields."),
        extra={"form": form.values, "errors": form.errors},
    )


@router.post("/maintenance/{window_id}/delete")
async def delete_window(request: Request, viewer: CurrentViewer, window_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete_window(request.app.state.backends, viewer.caller, str(window_id)),
        "Maintenance window removed.",
    )
    return await show(request, viewer, PANEL, "monitoring/maintenance", full=False, flash=outcome)


@router.post("/{monitor_id}/channels")
async def link_channels(request: Request, viewer: CurrentViewer, monitor_id: uuid.UUID) -> Response:
    form = await read_form(request)
    chosen = [c for c in form.getlist("channel_ids") if c]
    outcome = await flash.outcome_of(
        service.link_channels(request.app.state.backends, viewer.caller, str(monitor_id), chosen),
        "Alert channels saved.",
    )
    path = f"monitoring/{monitor_id}/channels"
    return await show(request, viewer, PANEL, path, full=False, flash=outcome)


@router.post("/{monitor_id}/settings")
async def change_settings(
    request: Request, viewer: CurrentViewer, monitor_id: uuid.UUID
) -> Response:
    form = await read_form(request)
    changes = service.settings_body(form)
    if form.ok and changes:
        outcome = await flash.outcome_of(
            service.update(request.app.state.backends, viewer.caller, str(monitor_id), changes),
            "Settings saved.",
        )
    else:
        outcome = flash.failure(
            "; ".join(f"{k}: {v}" for k, v in form.errors.items()) or "Nothing to change."
        )
    return await show(request, viewer, PANEL, f"monitoring/{monitor_id}", full=False, flash=outcome)


@router.post("/{monitor_id}/{action}")
async def act(
    request: Request, viewer: CurrentViewer, monitor_id: uuid.UUID, action: str
) -> Response:
    if action not in ACTIONS:
        raise StarletteHTTPException(404)
    backends = request.app.state.backends
    try:
        answer = await service.act(backends, viewer.caller, str(monitor_id), action)
    except (ApiError, ServiceDown) as exc:
        if _refused(exc):
            raise
        outcome = flash.from_exception(exc)
    else:
        outcome = flash.success(ACTIONS[action])
        if action == "heartbeat-token" and answer:
            outcome = flash.success(ACTIONS[action], secret=answer["push_url"])
        if action == "delete":
            return await show(
                request, viewer, PANEL, "monitoring", full=False, flash=outcome, push=True
            )
    return await show(request, viewer, PANEL, f"monitoring/{monitor_id}", full=False, flash=outcome)
