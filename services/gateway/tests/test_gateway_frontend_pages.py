"""The frontend's routes at the edge: public pages open, the panel for signed-in people, the
admin area for admins; a browser without a usable session is sent to sign in, not shown a 401."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gateway_testkit import ISSUER, TokenFactory
from test_gateway_verify import assert_error, forwarded

from berth_gateway.policy import RoutePolicy, normalise_path

POLICY = RoutePolicy()


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("GET", "/", "public"),
        ("GET", "/?utm=x", "public"),
        ("GET", "/login?next=/panel", "public"),
        ("POST", "/login", "public"),
        ("POST", "/logout", "public"),
        ("GET", "/register", "public"),
        ("GET", "/verify-email", "public"),
        ("POST", "/verify-email/resend", "public"),
        ("GET", "/forgot-password", "public"),
        ("POST", "/reset-password", "public"),
        ("GET", "/static/css/berth.css", "public"),
        ("GET", "/favicon.ico", "public"),
        ("GET", "/panel", "authenticated"),
        ("GET", "/panel/apps/42", "authenticated"),
        ("GET", "/partials", "authenticated"),
        ("POST", "/partials/profile/password", "authenticated"),
        ("GET", "/admin", "role(admin)"),
        ("GET", "/admin/partials/users", "role(admin)"),
        ("POST", "/admin/partials/clients", "role(admin)"),
        ("GET", "/support", "role(admin | support)"),
        ("GET", "/support/tickets/42", "role(admin | support)"),
        ("POST", "/support/partials/tickets/42/notes", "role(admin | support)"),
        ("GET", "/supportx", "authenticated"),
        # the root rule is the root only; look-alikes of public pages are not public
        ("GET", "/loginx", "authenticated"),
        ("GET", "/login/../panel", "invalid"),
        ("GET", "/staticx/a.js", "authenticated"),
        ("GET", "/anything/else", "authenticated"),
    ],
)
def test_frontend_routes_in_the_policy_table(method: str, uri: str, expected: str) -> None:
    try:
        path = normalise_path(uri)
    except Exception:
        assert expected == "invalid"
        return
    assert POLICY.match(method, path).access.describe() == expected


@pytest.mark.parametrize("uri", ["/panel", "/panel/apps?page=2", "/admin/users"])
async def test_anonymous_navigation_to_a_page_is_redirected_to_sign_in(
    gateway: httpx.AsyncClient, uri: str
) -> None:
    response = await gateway.get("/verify", headers=forwarded(uri))
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    # absolute on the public URL: Traefik resolves a relative one against the gateway
    assert f"{location.scheme}://{location.netloc}" == ISSUER
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [uri]}


@pytest.mark.parametrize(
    ("forwarded_host", "sign_in_at"),
    [
        ("admin.berth.example", "https://admin.berth.example"),  # the admin host keeps its own
        ("evil.example", ISSUER),  # any other host claim: the public URL
    ],
)
async def test_sign_in_happens_on_the_platform_host_the_browser_is_on(
    gateway_factory, forwarded_host: str, sign_in_at: str
) -> None:
    async with gateway_factory(BERTH_ADMIN_URL="https://admin.berth.example") as gateway:
        headers = forwarded(
            "/admin/users", X_Forwarded_Proto="https", X_Forwarded_Host=forwarded_host
        )
        response = await gateway.get("/verify", headers=headers)
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}" == sign_in_at


async def test_an_expired_session_on_a_page_goes_to_sign_in_too(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    expired = make_token(expires_in=-60)
    headers = forwarded("/panel/billing", Cookie=f"berth_access={expired}")
    response = await gateway.get("/verify", headers=headers)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query) == {"next": ["/panel/billing"]}


async def test_htmx_requests_get_401_with_hx_redirect_to_the_current_page(
    gateway: httpx.AsyncClient,
) -> None:
    headers = forwarded(
        "/partials/apps",
        HX_Request="true",
        HX_Current_URL="http://localhost:8080/panel/apps?page=3",
    )
    response = await gateway.get("/verify", headers=headers)
    assert_error(response, 401, "login_required")
    target = urlsplit(response.headers["hx-redirect"])
    assert target.path == "/login"
    assert parse_qs(target.query) == {"next": ["/panel/apps?page=3"]}


async def test_an_anonymous_form_post_to_the_panel_is_a_plain_401(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/verify", headers=forwarded("/partials/profile", "POST"))
    assert_error(response, 401, "login_required")
    assert "location" not in response.headers


async def test_signed_in_people_reach_the_panel_but_not_the_admin_area(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    cookie = f"berth_access={make_token(sub='u-9')}"
    response = await gateway.get("/verify", headers=forwarded("/panel/apps", Cookie=cookie))
    assert response.status_code == 200
    assert response.headers["x-user-id"] == "u-9"
    response = await gateway.get("/verify", headers=forwarded("/admin/users", Cookie=cookie))
    assert_error(response, 403, "forbidden")
    admin = f"berth_access={make_token(sub='a-1', roles=['user', 'admin'])}"
    response = await gateway.get("/verify", headers=forwarded("/admin/users", Cookie=admin))
    assert response.status_code == 200


async def test_api_routes_still_answer_401_not_a_redirect(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/verify", headers=forwarded("/api/deploy/v1/apps"))
    assert_error(response, 401, "unauthorized")


async def test_public_pages_pass_anonymously_and_with_a_stale_cookie(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    stale = f"berth_access={make_token(expires_in=-60)}"
    for uri in ("/", "/login?next=/panel", "/static/js/berth.js"):
        assert (await gateway.get("/verify", headers=forwarded(uri))).status_code == 200
        response = await gateway.get("/verify", headers=forwarded(uri, Cookie=stale))
        assert response.status_code == 200
