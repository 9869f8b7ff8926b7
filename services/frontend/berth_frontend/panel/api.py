"""The routers of every screen: `/partials/*` and `/admin/partials/*` answer a screen's
partial; `/panel/*` and `/admin/*` answer the same partial inside the full shell. The panel's
router needs a signed-in person, the admin area's an admin (web/access.py)."""

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_common.errors import Forbidden
from berth_frontend.apps import service as apps_service
from berth_frontend.apps.service import AppStatus
from berth_frontend.billing import service as billing_service
from berth_frontend.profile import service as profile_service
from berth_frontend.web.access import (
    AdminViewer,
    CurrentViewer,
    SupportViewer,
    admin_router,
    panel_router,
    support_router,
)
from berth_frontend.web.backends import Section, section, sections
from berth_frontend.web.screens import (
    ADMIN,
    MENUS,
    OPS,
    PANEL,
    SUPPORT,
    Area,
    ScreenContext,
    ScreenRegistry,
)
from berth_frontend.web.session import Viewer
from berth_frontend.web.templating import render

panel_screens = panel_router()
admin_screens = admin_router()
support_screens = support_router()

NAVIGATION_TARGET = "main"  # the content column: a partial swapped there is a navigation
SELF_REFRESH = "screen-refresh"  # the id of an element that reloads the screen it is on


def menu_for(screens: ScreenRegistry, area: Area, active: str) -> list[dict[str, Any]]:
    return [
        {
            "key": item.key,
            "label": item.label,
            "icon": item.icon,
            "active": item.key == active,
            "href": f"{area.page_prefix}/{item.path}" if item.path else area.page_prefix,
            "partial": f"{area.partial_prefix}/{item.path}" if item.path else area.partial_prefix,
        }
        for item in MENUS[area.name]
        if screens.match(area, item.path) is not None
    ]


async def _me(ctx: ScreenContext) -> Section[Any]:
    return await section(profile_service.me(ctx.backends, ctx.viewer.caller))


async def dashboard(ctx: ScreenContext) -> dict[str, Any]:
    """Apps running, balance, recent activity: each card from its own service, fetched in
    parallel, each rendered as unavailable on its own when its service is down."""
    b, caller = ctx.backends, ctx.viewer.caller
    activity, balance, apps, running = await sections(
        profile_service.login_history(b, caller, size=5),
        billing_service.account(b, caller),
        apps_service.recent(b, caller, size=5),
        apps_service.count(b, caller, status=AppStatus.RUNNING),
    )
    if apps.ok and running.ok:
        apps.extra = {"total": apps.data["total"], "running": running.data}
    elif running.down or running.error:
        apps = running  # one notice for the card, whichever call failed
    return {"activity": activity, "balance": balance, "apps": apps}


async def show(
    request: Request,
    viewer: Viewer,
    area: Area,
    path: str,
    *,
    full: bool,
    flash: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    push: bool = False,
) -> Response:
    """Render screen `path` of `area`: the partial alone, or inside the shell (`full`).
    Actions answer with the screen they changed, `flash` telling how it went, `extra`
    overriding the loader's data (a form to show again with its errors), `push` putting the
    screen's page in the address bar (an action that lands on another screen)."""
    if area is ADMIN and not viewer.is_admin:  # an admin screen reached from a panel route
        raise Forbidden("The admin area is for administrators.")
    if area is OPS and not viewer.is_oncall:
        raise Forbidden("The on-call pages are for on-call engineers.")
    if area is SUPPORT and not viewer.is_support:
        raise Forbidden("The support desk is for support staff.")
    path = path.strip("/")
    screens: ScreenRegistry = request.app.state.screens
    found = screens.match(area, path)
    if found is None:
        raise StarletteHTTPException(404)
    screen, params = found
    ctx = ScreenContext(request, viewer, request.app.state.backends, area, path, params)
    me: Section[Any] | None = None
    if full:
        data, me = await asyncio.gather(screen.load(ctx), _me(ctx))
    else:
        data = await screen.load(ctx)
    # the address bar keeps the state that matters: empty form fields are left out
    query = urlencode(parse_qsl(request.url.query)) if request.method == "GET" else ""
    page_url = ctx.page_url() + (f"?{query}" if query else "")
    context = {
        **data,
        "ctx": ctx,
        "screen": screen,
        "area": area,
        "page_title": data.get("title", screen.title),
        "page_url": page_url,
        "partial_request": not full,
        "menu": menu_for(screens, area, screen.menu),
        "me": me,
        "fragment": screen.fragment,
        "flash": flash,
        **(extra or {}),
    }
    headers: dict[str, str] = dict(data.get("headers", {}))
    navigation = (
        request.method == "GET"
        and request.headers.get("hx-target") == NAVIGATION_TARGET
        and request.headers.get("hx-trigger") != SELF_REFRESH  # the same page, fresher
    )
    if not full and (push or navigation):
        headers["HX-Push-Url"] = page_url  # the address bar shows the page, never the partial
    template = "shell/page.html" if full else screen.template
    return render(request, template, context, headers=headers)


# /admin/partials must be declared before /admin/{path}, which would swallow it
@admin_screens.get("/admin/partials")
async def admin_partial_root(request: Request, viewer: AdminViewer) -> Response:
    return await show(request, viewer, ADMIN, "", full=False)


@admin_screens.get("/admin/partials/{path:path}")
async def admin_partial(request: Request, viewer: AdminViewer, path: str) -> Response:
    return await show(request, viewer, ADMIN, path, full=False)


@admin_screens.get("/admin")
async def admin_root(request: Request, viewer: AdminViewer) -> Response:
    return await show(request, viewer, ADMIN, "", full=True)


@admin_screens.get("/admin/{path:path}")
async def admin_page(request: Request, viewer: AdminViewer, path: str) -> Response:
    return await show(request, viewer, ADMIN, path, full=True)


# /support/partials must be declared before /support/{path}, which would swallow it
@support_screens.get("/support/partials")
async def support_partial_root(request: Request, viewer: SupportViewer) -> Response:
    return await show(request, viewer, SUPPORT, "", full=False)


@support_screens.get("/support/partials/{path:path}")
async def support_partial(request: Request, viewer: SupportViewer, path: str) -> Response:
    return await show(request, viewer, SUPPORT, path, full=False)


@support_screens.get("/support")
async def support_root(request: Request, viewer: SupportViewer) -> Response:
    return await show(request, viewer, SUPPORT, "", full=True)


@support_screens.get("/support/{path:path}")
async def support_page(request: Request, viewer: SupportViewer, path: str) -> Response:
    return await show(request, viewer, SUPPORT, path, full=True)


@panel_screens.get("/partials")
async def panel_partial_root(request: Request, viewer: CurrentViewer) -> Response:
    return await show(request, viewer, PANEL, "", full=False)


@panel_screens.get("/partials/{path:path}")
async def panel_partial(request: Request, viewer: CurrentViewer, path: str) -> Response:
    return await show(request, viewer, PANEL, path, full=False)


@panel_screens.get("/panel")
async def panel_root(request: Request, viewer: CurrentViewer) -> Response:
    return await show(request, viewer, PANEL, "", full=True)


@panel_screens.get("/panel/{path:path}")
async def panel_page(request: Request, viewer: CurrentViewer, path: str) -> Response:
    return await show(request, viewer, PANEL, path, full=True)
