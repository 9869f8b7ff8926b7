"""Routers decide who may call: a route with no guard that is not explicitly public stops the
app from being built, and each factory's guard really runs."""

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from berth_common.errors import NotFound, install_error_handlers
from berth_common.routing import (
    ensure_guarded,
    guarded_router,
    public_router,
    role_router,
    user_router,
)
from berth_common.security import require_scope


def _app(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    for router in routers:

        @router.get("/thing")
        async def thing() -> dict:
            return {}

        app.include_router(router)
    return app


def test_an_unguarded_route_stops_the_app():
    with pytest.raises(RuntimeError, match="GET /open/thing"):
        ensure_guarded(_app(APIRouter(prefix="/open")))


@pytest.mark.parametrize(
    "router",
    [
        user_router(prefix="/me"),
        role_router("admin", prefix="/admin"),
        guarded_router(require_scope("billing:read"), prefix="/internal"),
        public_router(prefix="/public"),
    ],
)
def test_guarded_and_public_routers_pass(router):
    ensure_guarded(_app(router))


def test_a_route_that_guards_itself_on_a_plain_router_passes():
    from berth_common.security import CurrentUser

    router = APIRouter()

    @router.get("/mine")
    async def mine(user: CurrentUser) -> dict:
        return {}

    app = FastAPI()
    app.include_router(router)
    ensure_guarded(app)


def test_the_guard_runs_and_its_failures_are_declared():
    router = user_router(prefix="/me", errors=(NotFound,))
    app = _app(router)
    response = TestClient(app).get("/me/thing")  # no token, no verifier: refused before the handler
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    responses = app.openapi()["paths"]["/me/thing"]["get"]["responses"]
    assert {"401", "403", "404"} <= set(responses)


def test_a_public_router_has_no_guard():
    app = _app(public_router(prefix="/p"))
    assert TestClient(app).get("/p/thing").json() == {}


def test_a_dependency_that_is_not_a_guard_does_not_count():
    async def harmless() -> None:
        return None

    with pytest.raises(RuntimeError):
        ensure_guarded(_app(APIRouter(prefix="/x", dependencies=[Depends(harmless)])))
