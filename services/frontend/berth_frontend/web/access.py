"""Who may call a route, decided by the router it is on, never by a call in the handler.

Every router is made by one of four factories: `panel_router` (a signed-in person),
`admin_router` (a signed-in admin), `ops_router` (an on-call engineer or admin),
`support_router` (support staff or an admin: the support desk) or `public_router` (anyone:
the one way to opt out).
Handlers that need the person take `CurrentViewer`, `AdminViewer`, `OncallViewer` or
`SupportViewer`; the router has checked already, and the check runs once per request (FastAPI
caches the dependency). The gateway has
checked too; the frontend checks again (no trust in the network). `ensure_guarded` refuses to
build an app with a route that is neither guarded nor public.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from berth_common import routing
from berth_common.errors import Forbidden
from berth_frontend.web.backends import ServiceDown
from berth_frontend.web.errors import LoginRequired
from berth_frontend.web.session import Viewer


async def current_viewer(request: Request) -> Viewer:
    """The signed-in person; a request without one is sent to sign in."""
    viewer = await request.app.state.sessions.viewer(request)
    if viewer is None:
        raise LoginRequired("Please sign in")
    return viewer


async def current_admin(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_admin:
        raise Forbidden("The admin area is for administrators.")
    return viewer


async def current_support(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_support:
        raise Forbidden("The support desk is for support staff.")
    return viewer


async def viewer_if_any(request: Request) -> Viewer | None:
    """The signed-in person, if any: public pages greet them, and sign-in pages move them on.
    When auth cannot judge the session, a public page renders as for a visitor."""
    try:
        return await request.app.state.sessions.viewer(request)
    except ServiceDown:
        return None


async def current_oncall(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_oncall:
        raise Forbidden("The on-call pages are for on-call engineers.")
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
AdminViewer = Annotated[Viewer, Depends(current_admin)]
OncallViewer = Annotated[Viewer, Depends(current_oncall)]
SupportViewer = Annotated[Viewer, Depends(current_support)]
MaybeViewer = Annotated[Viewer | None, Depends(viewer_if_any)]
GUARDS: frozenset[Callable[..., Any]] = frozenset(
    {current_viewer, current_admin, current_oncall, current_support}
)


def panel_router(**kwargs: Any) -> APIRouter:
    """Routes of the panel: each one needs a signed-in person."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(current_viewer)], **kwargs)


def admin_router(**kwargs: Any) -> APIRouter:
    """Routes of the admin area: each one needs a signed-in admin."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(current_admin)], **kwargs)


def ops_router(**kwargs: Any) -> APIRouter:
    """Routes of the on-call pages (/ops): each one needs the oncall or admin role."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(current_oncall)], **kwargs)


def support_router(**kwargs: Any) -> APIRouter:
    """Routes of the support desk: each one needs support staff or an admin."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(current_support)], **kwargs)


def public_router(**kwargs: Any) -> APIRouter:
    """Routes anyone may call: landing, sign-in and sign-up, error pages, assets."""
    return routing.public_router(include_in_schema=False, **kwargs)


def ensure_guarded(app: FastAPI) -> None:
    """Refuse an app with a route that is neither guarded nor explicitly public."""
    routing.ensure_guarded(app, GUARDS)
