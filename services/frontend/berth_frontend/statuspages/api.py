"""Status pages: the owner's list and edit form (with a monitor picker), and the public page
at /status/<slug> (no sign-in; briefly cacheable, so it carries nothing of the visitor)."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.panel.api import show
from berth_frontend.statuspages import service
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router, public_router
from berth_frontend.web.backends import ApiError, Section, ServiceDown, section
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.session import caller_for
from berth_frontend.web.templating import render

router = panel_router(prefix="/partials/monitoring/status-pages")
public = public_router()
LIST = "monitoring/status-pages"
SLUG = re.compile(r"^[a-z0-9-]{3,60}$")
PUBLIC_CACHE = "public, max-age=30"


async def _monitors(backends, caller) -> Section[Any]:
    try:
        return await section(service.monitors(backends, caller))
    except ApiError as exc:
        if exc.status == 401:
            raise
        return Section(error=exc)  # the picker says why; the page's other fields still work


async def pages(ctx: ScreenContext) -> dict[str, Any]:
    return {"pages": await section(service.pages(ctx.backends, ctx.viewer.caller))}


async def new_page(ctx: ScreenContext) -> dict[str, Any]:
    monitors = await _monitors(ctx.backends, ctx.viewer.caller)
    form = {"is_published": "on"}
    return {"page": None, "monitors": monitors, "form": form, "picked": [], "errors": {}}


async def edit_page(ctx: ScreenContext) -> dict[str, Any]:
    page_id = str(ctx.params["page_id"])
    found = await service.page(ctx.backends, ctx.viewer.caller, page_id)
    monitors = await _monitors(ctx.backends, ctx.viewer.caller)
    form = {
        "slug": found["slug"],
        "title": found["title"],
        "description": found["description"],
        "is_published": "on" if found["is_published"] else "",
        **{f"display_{m['monitor_id']}": m["display_name"] for m in found["monitors"]},
    }
    picked = [m["monitor_id"] for m in found["monitors"]]
    return {
        "page": found,
        "title": found["title"],
        "monitors": monitors,
        "form": form,
        "picked": picked,
        "errors": {},
    }


async def _save(request: Request, viewer, page_id: str | None) -> Response:
    form = await read_form(request, multiline=("description",))
    picked = [m for m in form.getlist("monitor_ids") if _is_uuid(m)]
    for name in ("slug", "title"):
        form.require(name)
    backends, caller = request.app.state.backends, viewer.caller
    if form.ok:
        body = service.body_of(form.values, picked)
        try:
            if page_id is None:
                saved = await service.create(backends, caller, body)
            else:
                saved = await service.update(backends, caller, page_id, body)
        except ApiError as exc:
            if exc.status in (401, 404):
                raise
            form.absorb(exc)
            if exc.code == "slug_taken":
                form.errors["slug"] = exc.message
        except ServiceDown as exc:
            form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            outcome = flash.success(f"Saved: {saved['title']} is at {saved['path']}.")
            return await show(request, viewer, PANEL, LIST, full=False, flash=outcome, push=True)
    monitors = await _monitors(backends, caller)
    path = f"{LIST}/new" if page_id is None else f"{LIST}/{page_id}"
    return await show(
        request,
        viewer,
        PANEL,
        path,
        full=False,
        extra={"form": form.values, "errors": form.errors, "picked": picked, "monitors": monitors},
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.post("")
async def create(request: Request, viewer: CurrentViewer) -> Response:
    return await _save(request, viewer, None)


# three segments: never taken for the monitors module's /partials/monitoring/{id}/{action}
@router.post("/{page_id}/save")
async def update(request: Request, viewer: CurrentViewer, page_id: uuid.UUID) -> Response:
    return await _save(request, viewer, str(page_id))


@router.post("/{page_id}/delete")
async def delete(request: Request, viewer: CurrentViewer, page_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.delete(request.app.state.backends, viewer.caller, str(page_id)),
        "Status page removed.",
    )
    return await show(request, viewer, PANEL, LIST, full=False, flash=outcome)


@public.get("/status/{slug}")
async def status_page(request: Request, slug: str) -> Response:
    if not SLUG.match(slug):
        raise StarletteHTTPException(404)
    # anonymous on purpose: the page is the same for everyone, so it may be cached
    try:
        found = await section(service.public(request.app.state.backends, caller_for(request), slug))
    except ApiError as exc:
        if exc.status == 404:
            raise StarletteHTTPException(404, "There is no status page at this address.") from None
        raise
    context = {"page": found, "bar_class": service.bar_class}
    response = render(request, "public/status.html", context, status_code=200 if found.ok else 503)
    if found.ok:
        response.headers["Cache-Control"] = PUBLIC_CACHE
    return response
