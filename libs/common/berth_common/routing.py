"""Who may call a route is decided by the router it is on, never by a call in the handler.

A service makes its routers with these factories: `user_router` (a signed-in person),
`role_router` (a person or client holding one of the roles), `guarded_router` (a guard of the
service's own that builds on `current_principal`, e.g. a scope check for machine clients), or
`public_router`, the one way to opt out. `ensure_guarded` refuses to build an app with a route
that is neither guarded nor public, so a forgotten check stops startup instead of leaking.
"""

from collections.abc import Callable, Collection
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from berth_common.errors import BerthError, Forbidden, Unauthorized, error_responses
from berth_common.security import authenticates, current_principal, current_user, require_role

# the probes every service gets from libs/common's app factory: anonymous by design
PROBE_PATHS = frozenset({"/health", "/ready", "/metrics"})


class PublicRoute(APIRoute):
    """A route anyone may call, signed in or not."""


def public_router(**kwargs: Any) -> APIRouter:
    """Routes anyone may call (sign-up, token endpoints, signed webhooks, public catalogues)."""
    return APIRouter(route_class=PublicRoute, **kwargs)


def guarded_router(
    guard: Callable[..., Any], *, errors: Collection[type[BerthError]] = (), **kwargs: Any
) -> APIRouter:
    """Routes that each run `guard` first; its failures are declared in OpenAPI."""
    return APIRouter(
        dependencies=[Depends(guard)],
        responses=error_responses(Unauthorized, Forbidden, *errors),
        **kwargs,
    )


def user_router(*, errors: Collection[type[BerthError]] = (), **kwargs: Any) -> APIRouter:
    """Routes of a signed-in person (not a machine client)."""
    return guarded_router(current_user, errors=errors, **kwargs)


def role_router(*roles: str, errors: Collection[type[BerthError]] = (), **kwargs: Any) -> APIRouter:
    """Routes for holders of one of `roles` (admin, oncall...)."""
    return guarded_router(require_role(*roles), errors=errors, **kwargs)


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every endpoint of the app with its full path, however deeply its router is included
    (since FastAPI 0.137 `app.routes` holds an included router as one opaque entry)."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def is_public(route: RouteContext) -> bool:
    return isinstance(route.original_route, PublicRoute) or route.path in PROBE_PATHS


def is_guarded(route: RouteContext, guards: Collection[Callable[..., Any]]) -> bool:
    """Whether one of `guards`, or a dependency marked as one (security.guard), is among the
    route's dependencies (at any depth)."""
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call in guards or authenticates(dependant.call):
            return True
        pending.extend(dependant.dependencies)
    return False


def ensure_guarded(
    app: FastAPI, guards: Collection[Callable[..., Any]] = (current_principal,)
) -> None:
    """Refuse an app with a route that is neither guarded nor explicitly public."""
    open_routes = [
        f"{','.join(sorted(route.methods or ()))} {route.path}"
        for route in api_routes(app)
        if not is_public(route) and not is_guarded(route, guards)
    ]
    if open_routes:
        raise RuntimeError(f"routes with no guard and not public: {open_routes}")
