"""Apps: the list, create from a template, an app's page (status, actions, env vars, live
build and run logs), and the actions on it."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.apps import service
from berth_frontend.apps.service import AppAction, LogKind
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, Section, ServiceDown, section, sections
from berth_frontend.web.flash import FlashKind
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state

router = panel_router(prefix="/partials/apps")

TEMPLATE_KEY = re.compile(r"^[a-z0-9-]{1,40}$")
DONE = {
    AppAction.DEPLOY: "Deployment queued: the build starts in a moment.",
    AppAction.RESTART: "Restart queued.",
    AppAction.STOP: "Stop queued.",
    AppAction.START: "Start queued.",
    AppAction.ROLLBACK: "Rollback to the previous release queued.",
}


async def apps(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        sorts=("created_at", "updated_at", "name", "slug", "status"),
        default_sort="-created_at",
        filters={"status": service.STATUSES, "q": None, "template": None},
    )
    if not TEMPLATE_KEY.match(table.filters.get("template", "x")):
        table.filters.pop("template", None)
    found, templates = await sections(
        service.apps(ctx.backends, ctx.viewer.caller, table),
        service.templates(ctx.backends, ctx.viewer.caller),
    )
    return {"apps": found, "templates": templates, "table": table, "statuses": service.STATUSES}


async def new_app(ctx: ScreenContext) -> dict[str, Any]:
    templates = await section(service.templates(ctx.backends, ctx.viewer.caller))
    chosen = ctx.query.get("template", "")
    return {"templates": templates, "form": {"template": chosen, "branch": "main"}, "errors": {}}


async def app_detail(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    found = await service.app(ctx.backends, ctx.viewer.caller, app_id)
    operations, releases = await sections(
        service.operations(ctx.backends, ctx.viewer.caller, app_id),
        service.releases(ctx.backends, ctx.viewer.caller, app_id),
    )
    return {
        "app": found,
        "title": found["name"] or found["slug"],
        "operations": operations,
        "releases": releases,
        "transitional": found["status"] in service.TRANSITIONAL,
    }


async def app_status(ctx: ScreenContext) -> dict[str, Any]:
    return await app_detail(ctx)


async def app_env(ctx: ScreenContext) -> dict[str, Any]:
    app_id = str(ctx.params["app_id"])
    variables = await section(service.env(ctx.backends, ctx.viewer.caller, app_id))
    return {"app_id": app_id, "variables": variables}


async def _log_page(ctx: ScreenContext, app_id: str, kind: str, offset: int) -> Section[Any]:
    try:
        return await section(service.logs(ctx.backends, ctx.viewer.caller, app_id, kind, offset))
    except ApiError as exc:
        # deploy answers 404 both for an app that is not yours and for one never deployed
        if exc.status == 404 and "no logs" in exc.message.lower():
            return Section(error=exc)
        raise


def _log_kind(ctx: ScreenContext) -> str:
    kind = ctx.query.get("kind", LogKind.BUILD)
    return kind if kind in service.LOG_KINDS else LogKind.BUILD


async def app_logs(ctx: ScreenContext) -> dict[str, Any]:
    """The log's tail as it is now, and a poller that appends what comes next."""
    app_id, kind = str(ctx.params["app_id"]), _log_kind(ctx)
    page = await _log_page(ctx, app_id, kind, 0)
    if page.ok and page.data["size"] > page.data["next_offset"]:
        tail = max(0, page.data["size"] - service.LOG_PAGE_BYTES)
        page = await _log_page(ctx, app_id, kind, tail)
    return {"app_id": app_id, "kind": kind, "page": page, "more": False}


async def app_logs_more(ctx: ScreenContext) -> dict[str, Any]:
    app_id, kind = str(ctx.params["app_id"]), _log_kind(ctx)
    try:
        offset = max(0, int(ctx.query.get("offset", "0")))
    except ValueError:
        offset = 0
    page = await _log_page(ctx, app_id, kind, offset)
    return {"app_id": app_id, "kind": kind, "page": page, "more": True, "offset": offset}


def _container_fields(form) -> dict[str, Any]:
    """A container app's image and registry login (the password is sent once, never shown)."""
    port = form.get("container_port") or ""
    if port and not port.isdigit():
        form.errors["container_port"] = "A port number, 1 to 65535"
    return {
        "image": form.get("image") or None,
        "container_port": int(port) if port.isdigit() else None,
        "registry_username": form.get("registry_username") or None,
        "registry_password": form.get("registry_password") or None,
    }


@router.post("")
async def create(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request, multiline=("env",))
    backends = request.app.state.backends
    env, problems = service.parse_env_lines(form.get("env"))
    if problems:
        form.errors["env"] = "; ".join(problems)
    for name in ("template", "slug"):
        form.require(name)
    body: dict[str, Any] = {
        "template": form.get("template"),
        "slug": form.get("slug").lower(),
        "name": form.get("name") or None,
        "repo_url": form.get("repo_url") or None,
        "branch": form.get("branch") or "main",
        "env": env,
    }
    if form.get("template") == "container":
        body |= _container_fields(form)
    if form.ok:
        try:
            created = await service.create(backends, viewer.caller, body)
        except ApiError as exc:
            if exc.status == 401:
                raise
            form.absorb(exc)
            if exc.code in ("registry_not_allowed", "invalid_image", "image_not_runnable"):
                form.errors.setdefault("image", exc.message)
            elif exc.code == "repo_not_allowed" or "repo" in exc.message.lower():
                form.errors.setdefault("repo_url", exc.message)
        except ServiceDown as exc:
            form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            outcome = flash.success(f"{created['slug']} created.")
            if form.get("deploy_now"):
                outcome = await flash.outcome_of(
                    service.act(backends, viewer.caller, created["id"], "deploy"),
                    f"{created['slug']} created; its first deployment is queued.",
                )
            path = f"apps/{created['id']}"
            return await show(request, viewer, PANEL, path, full=False, flash=outcome, push=True)
    return await show(
        request,
        viewer,
        PANEL,
        "apps/new",
        full=False,
        extra={"form": form.values, "errors": form.errors},
    )


@router.post("/{app_id}/env")
async def set_env(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("value",))
    name = form.get("name")
    if not name:
        outcome = flash.failure("Give the variable a name.")
    else:
        outcome = await flash.outcome_of(
            service.set_env(
                request.app.state.backends,
                viewer.caller,
                str(app_id),
                name,
                form.get("value"),
                form.get("secret") == "on",
            ),
            f"{name} saved; it applies at the next deploy, start or restart.",
        )
    return await show(request, viewer, PANEL, f"apps/{app_id}/env", full=False, flash=outcome)


@router.post("/{app_id}/env/{name}/delete")
async def delete_env(
    request: Request, viewer: CurrentViewer, app_id: uuid.UUID, name: str
) -> Response:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        raise StarletteHTTPException(404)
    outcome = await flash.outcome_of(
        service.delete_env(request.app.state.backends, viewer.caller, str(app_id), name),
        f"{name} removed.",
    )
    return await show(request, viewer, PANEL, f"apps/{app_id}/env", full=False, flash=outcome)


@router.post("/{app_id}/delete")
async def delete(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete(request.app.state.backends, viewer.caller, str(app_id)),
        "The app is being deleted: its processes stop and its files go.",
    )
    if outcome["kind"] == FlashKind.ERROR:
        return await show(request, viewer, PANEL, f"apps/{app_id}", full=False, flash=outcome)
    return await show(request, viewer, PANEL, "apps", full=False, flash=outcome, push=True)


@router.post("/{app_id}/{action}")
async def act(request: Request, viewer: CurrentViewer, app_id: uuid.UUID, action: str) -> Response:
    if action not in service.ACTIONS:
        raise StarletteHTTPException(404)
    outcome = await flash.outcome_of(
        service.act(request.app.state.backends, viewer.caller, str(app_id), action), DONE[action]
    )
    return await show(request, viewer, PANEL, f"apps/{app_id}", full=False, flash=outcome)
