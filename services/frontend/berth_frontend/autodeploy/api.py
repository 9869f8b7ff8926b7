"""The app page's "Automatic deploys" section: auto-deploy on or off, polling, previews,
force pushes, the webhook secret (shown once when made) with each forge's URL and set-up,
and the recent deliveries."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.apps import service as apps
from berth_frontend.autodeploy import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, ServiceDown, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext

router = panel_router(prefix="/partials/apps")


async def autodeploy(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    app, hook = await sections(
        apps.app(ctx.backends, ctx.viewer.caller, app_id),
        service.webhook(ctx.backends, ctx.viewer.caller, app_id),
    )
    return {
        "app_id": app_id,
        "app": app,
        "hook": hook,
        "forges": service.FORGES,
        "poll_choices": service.POLL_CHOICES,
        "poll_values": [seconds for seconds, _ in service.POLL_CHOICES],
    }


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


@router.post("/{app_id}/autodeploy")
async def save(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    form = await read_form(request)
    poll = _int(form.get("poll_interval_seconds"), 0)
    body = {
        "auto_deploy": form.get("auto_deploy") == "on",
        "allow_force_push": form.get("allow_force_push") == "on",
        "previews_enabled": form.get("previews_enabled") == "on",
        "preview_idle_days": _int(form.get("preview_idle_days"), 7),
        "poll_interval_seconds": poll or None,
    }
    outcome = await flash.outcome_of(
        service.update(request.app.state.backends, viewer.caller, str(app_id), body),
        "Automatic deploy settings saved.",
    )
    return await show(
        request, viewer, PANEL, f"apps/{app_id}/autodeploy", full=False, flash=outcome
    )


@router.post("/{app_id}/webhook-secret")
async def make_secret(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    try:
        made = await service.make_secret(request.app.state.backends, viewer.caller, str(app_id))
    except ApiError as exc:
        if exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    except ServiceDown as exc:
        outcome = flash.from_exception(exc)
    else:
        outcome = flash.success(
            "Webhook secret made: copy it into your forge's webhook now, it is not shown "
            "again. Any earlier secret no longer works.",
            secret=made["secret"],
        )
    return await show(
        request, viewer, PANEL, f"apps/{app_id}/autodeploy", full=False, flash=outcome
    )


@router.post("/{app_id}/webhook-secret/delete")
async def remove_secret(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.remove_secret(request.app.state.backends, viewer.caller, str(app_id)),
        "Webhook secret removed: the app's webhooks are refused until you make a new one.",
    )
    return await show(
        request, viewer, PANEL, f"apps/{app_id}/autodeploy", full=False, flash=outcome
    )
