"""An app's "Push to deploy" section: its git remote on Berth, the commands to use it, and its
deploy tokens (made here, shown once, revoked here)."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.apps import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, Backends, Caller, ServiceDown, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext

router = panel_router(prefix="/partials/apps")


def tokens_path(app_id: str) -> str:
    return f"{service.app_path(app_id)}/deploy-tokens"


async def tokens(backends: Backends, caller: Caller, app_id: str) -> list[dict[str, Any]]:
    return await backends.deploy.get(tokens_path(app_id), caller)


async def app_push(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    found, listed = await sections(
        service.app(ctx.backends, ctx.viewer.caller, app_id),
        tokens(ctx.backends, ctx.viewer.caller, app_id),
    )
    public = ctx.request.app.state.settings.public_url.rstrip("/")
    slug = found.data["slug"] if found.ok else ""
    return {
        "app_id": app_id,
        "app": found,
        "tokens": listed,
        "remote_url": f"{public}/git/{slug}.git",
    }


@router.post("/{app_id}/deploy-tokens")
async def create_token(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    form = await read_form(request)
    name = form.get("name") or "token"
    try:
        created = await request.app.state.backends.deploy.post(
            tokens_path(str(app_id)), viewer.caller, {"name": name[:80]}
        )
    except ApiError as exc:
        if exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    except ServiceDown as exc:
        outcome = flash.from_exception(exc)
    else:
        outcome = flash.success(
            f"Token {created['name']} made: copy it now, it is not shown again."
        )
        outcome["secret"] = created["token"]
    return await show(request, viewer, PANEL, f"apps/{app_id}/push", full=False, flash=outcome)


@router.post("/{app_id}/deploy-tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, viewer: CurrentViewer, app_id: uuid.UUID, token_id: uuid.UUID
) -> Response:
    outcome = await flash.outcome_of(
        request.app.state.backends.deploy.delete(
            f"{tokens_path(str(app_id))}/{token_id}", viewer.caller
        ),
        "Token revoked: pushes with it are refused from now on.",
    )
    return await show(request, viewer, PANEL, f"apps/{app_id}/push", full=False, flash=outcome)
