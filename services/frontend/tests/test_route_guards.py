"""The route table: every route needs a signed-in person (the admin area an admin) unless it
is one of the public routes listed here. A route added without a guard makes the app refuse
to build, and a new public route fails here until it is added to the list."""

import re

import pytest
from fastapi import APIRouter, FastAPI
from frontend_testkit import csrf_token
from starlette.routing import Mount

from berth_common.routing import api_routes, is_public
from berth_frontend.web.access import ensure_guarded, panel_router, public_router

SOME_ID = "0b6f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e7f"
PUBLIC = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
    ("POST", "/verify-email/resend"),
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/errors/{status}"),
    ("GET", "/favicon.ico"),
    ("GET", "/status/{slug}"),  # a user's public status page
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
}


def routes(app: FastAPI, *, public: bool) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in api_routes(app)
        if is_public(route) is public
        for method in route.methods or ()
    )


def concrete(path: str) -> str:
    """The path with every parameter filled in (an id fits every parameter's type)."""
    return re.sub(r"\{[^}]+\}", SOME_ID, path)


def test_the_public_routes_are_exactly_these(frontend_app):
    assert set(routes(frontend_app, public=True)) == PUBLIC
    mounts = {route.path for route in frontend_app.routes if isinstance(route, Mount)}
    assert mounts == {"/static"}


async def test_every_other_route_sends_an_anonymous_request_to_sign_in(frontend, frontend_app):
    token = await csrf_token(frontend)  # so that the refusal is the sign-in check's, not CSRF's
    guarded = routes(frontend_app, public=False)
    assert ("POST", "/admin/partials/clients") in guarded and len(guarded) > 30
    for method, path in guarded:
        url = concrete(path)
        page = await frontend.request(method, url, headers={"X-CSRF-Token": token})
        if method == "GET":
            assert page.status_code == 303, (method, path, page.status_code)
            assert page.headers["location"].startswith("/login?next="), (method, path)
        else:
            assert page.status_code == 401, (method, path, page.status_code)
            assert "Please sign in again" in page.text, (method, path)
        partial = await frontend.request(
            method, url, headers={"X-CSRF-Token": token, "HX-Request": "true"}
        )
        assert partial.status_code == 401, (method, path, partial.status_code)
        assert partial.headers["hx-redirect"].startswith("/login?next="), (method, path)


async def test_every_admin_route_refuses_a_person_without_the_admin_role(
    frontend, frontend_app, sign_in_as
):
    token = await csrf_token(frontend)  # the sign-in page, while still signed out
    sign_in_as(roles=["user", "support", "oncall"])
    admin = [(m, p) for m, p in routes(frontend_app, public=False) if p.startswith("/admin")]
    assert len(admin) > 15
    for method, path in admin:
        response = await frontend.request(
            method, concrete(path), headers={"X-CSRF-Token": token, "HX-Request": "true"}
        )
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.headers["x-berth-error"], (method, path)


async def test_every_ops_route_refuses_a_person_without_the_oncall_role(
    frontend, frontend_app, sign_in_as
):
    token = await csrf_token(frontend)
    sign_in_as(roles=["user", "support"])
    ops = [(m, p) for m, p in routes(frontend_app, public=False) if p.startswith("/ops")]
    assert ("GET", "/ops/queues") in ops and (
        "POST",
        "/ops/partials/queues/{name}/threshold",
    ) in ops
    for method, path in ops:
        for headers in ({"HX-Request": "true"}, {}):
            response = await frontend.request(
                method, concrete(path), headers={"X-CSRF-Token": token, **headers}
            )
            assert response.status_code == 403, (method, path, response.status_code)


def _app_with(router: APIRouter) -> FastAPI:
    @router.get("/partials/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    return app


def test_an_app_with_a_route_that_is_neither_guarded_nor_public_is_refused():
    with pytest.raises(RuntimeError, match="GET /partials/forgotten"):
        ensure_guarded(_app_with(APIRouter()))
    ensure_guarded(_app_with(panel_router()))
    ensure_guarded(_app_with(public_router()))
