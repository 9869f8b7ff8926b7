"""Alert channels: the list with a test button per channel, and the add form (a webhook's
signing secret is shown once, in the answer to its creation)."""

import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.alerts import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, ServiceDown, section
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext

router = panel_router(prefix="/partials/monitoring/channels")
LIST = "monitoring/channels"
NEW = "monitoring/channels/new"


async def channels(ctx: ScreenContext) -> dict[str, Any]:
    return {"channels": await section(service.channels(ctx.backends, ctx.viewer.caller))}


async def new_channel(ctx: ScreenContext) -> dict[str, Any]:
    kind = ctx.query.get("kind", "email")
    return {
        "form": {"kind": kind if kind in service.KINDS else "email"},
        "errors": {},
        "kinds": service.KINDS,
    }


@router.post("")
async def create(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request, raw=("bot_token",))
    kind = form.get("kind")
    if kind not in service.KINDS:
        form.errors["kind"] = "Choose email, webhook or Telegram."
    form.require("name")
    if form.ok:
        try:
            created = await service.create(
                request.app.state.backends, viewer.caller, service.body_of(kind, form.values)
            )
        except ApiError as exc:
            if exc.status == 401:
                raise
            form.absorb(exc, {"target": "url"})
        except ServiceDown as exc:
            form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            outcome = flash.success(f"Channel {created['name']} added.")
            if created.get("signing_secret"):
                outcome = flash.success(
                    f"Channel {created['name']} added. Its signing secret is shown this once: "
                    "keep it with the receiver, which verifies each request with it.",
                    secret=created["signing_secret"],
                )
            return await show(request, viewer, PANEL, LIST, full=False, flash=outcome, push=True)
    values = {k: v for k, v in form.values.items() if k != "bot_token"}
    return await show(
        request,
        viewer,
        PANEL,
        NEW,
        full=False,
        extra={"form": values, "errors": form.errors, "kinds": service.KINDS},
    )


@router.post("/{channel_id}/test")
async def test(request: Request, viewer: CurrentViewer, channel_id: uuid.UUID) -> Response:
    try:
        result = await service.test(request.app.state.backends, viewer.caller, str(channel_id))
    except ApiError as exc:
        if exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    except ServiceDown as exc:
        outcome = flash.from_exception(exc)
    else:
        if result["status"] == "sent":
            outcome = flash.success("Test alert sent: check that it arrived.")
        else:
            outcome = flash.failure(f"The test alert failed: {result['error']}")
    return await show(request, viewer, PANEL, LIST, full=False, flash=outcome)


@router.post("/{channel_id}/{action}")
async def act(
    request: Request, viewer: CurrentViewer, channel_id: uuid.UUID, action: str
) -> Response:
    backends, caller = request.app.state.backends, viewer.caller
    if action == "delete":
        call, done = service.delete(backends, caller, str(channel_id)), "Channel removed."
    elif action in ("enable", "disable"):
        call = service.set_enabled(backends, caller, str(channel_id), action == "enable")
        done = f"Channel {action}d."
    else:
        raise StarletteHTTPException(404)
    outcome = await flash.outcome_of(call, done)
    return await show(request, viewer, PANEL, LIST, full=False, flash=outcome)
