"""An app's preview apps (one per branch) on its page: each with its address, branch and
status, a delete button, and a form to preview a branch by hand."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.apps.service import API, app_path
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import Backends, Caller, section
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext

# listed before the apps router: its POST /{app_id}/{action} would take these paths
router = panel_router(prefix="/partials/apps")


async def previews(backends: Backends, caller: Caller, app_id: str) -> list[dict[str, Any]]:
    return await backends.deploy.get(f"{app_path(app_id)}/previews", caller)


async def create(backends: Backends, caller: Caller, app_id: str, branch: str) -> dict[str, Any]:
    return await backends.deploy.post(f"{app_path(app_id)}/previews", caller, {"branch": branch})


async def delete(backends: Backends, caller: Caller, app_id: str, preview_id: str) -> None:
    await backends.deploy.delete(f"{API}/apps/{app_id}/previews/{preview_id}", caller)


async def app_previews(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    found = await section(previews(ctx.backends, ctx.viewer.caller, app_id))
    return {"app_id": app_id, "previews": found}


def _fragment(request: Request, viewer, app_id: uuid.UUID, outcome: dict[str, Any]):
    return show(request, viewer, PANEL, f"apps/{app_id}/previews", full=False, flash=outcome)


@router.post("/{app_id}/previews")
async def create_preview(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    form = await read_form(request)
    branch = form.get("branch").strip()
    if not branch:
        outcome = flash.failure("Name the branch to preview.")
    else:
        outcome = await flash.outcome_of(
            create(request.app.state.backends, viewer.caller, str(app_id), branch),
            f"Preview of {branch} queued: it builds in a moment.",
        )
    return await _fragment(request, viewer, app_id, outcome)


@router.post("/{app_id}/previews/{preview_id}/delete")
async def delete_preview(
    request: Request, viewer: CurrentViewer, app_id: uuid.UUID, preview_id: uuid.UUID
) -> Response:
    outcome = await flash.outcome_of(
        delete(request.app.state.backends, viewer.caller, str(app_id), str(preview_id)),
        "The preview is being deleted: its processes stop and its address goes.",
    )
    return await _fragment(request, viewer, app_id, outcome)
