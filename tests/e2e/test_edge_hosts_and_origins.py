"""The edge as a hostile tenant page meets it: platform pages and cookies never on an apps
host, cookie-authenticated state changes only from the panel, and bad stream resume ids."""

import re
import uuid

import httpx
import pytest
from deploy_e2e import create_app, sign_in
from frontend_web import WebClient
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_testing.oauth import bearer, password_login

PANEL_PATHS = ("/", "/login", "/register", "/panel", "/panel/apps", "/admin", "/static/app.css")


@pytest.mark.parametrize("host", ["ghost.apps.localhost", "stopped-app.apps.localhost"])
def test_panel_urls_on_an_apps_host_are_404_without_cookies(edge, person, host):
    for path in PANEL_PATHS:
        r = edge.get(path, headers={"Host": host})
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert "No app here" in r.text and "set-cookie" not in r.headers, path
    # signing in there is not possible either: no form, no token endpoint, no cookie
    attempts = [
        ("/login", {"email": person["email"], "password": PASSWORD}),
        (
            "/oauth/token",
            {
                "grant_type": "password",
                "username": person["email"],
                "password": PASSWORD,
                "client_id": "berth-panel",
            },
        ),
    ]
    for path, form in attempts:
        r = edge.post(path, data=form, headers={"Host": host})
        assert r.status_code == 404 and "set-cookie" not in r.headers, (path, r.text[:200])
    r = edge.get("/api/auth/v1/me", headers={"Host": host, **bearer(person["access_token"])})
    assert r.status_code == 404 and "No app here" in r.text


def test_panel_pages_still_work_on_the_platform_host(platform, person):
    with WebClient(platform.public_url) as web:
        assert web.get("/login").status_code == 200
        web.login(person["email"], PASSWORD)
        page = web.get("/panel")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert web.cookie("berth_access") and web.cookie("berth_refresh")
        # the session cookies are host-only: no Domain attribute reaches a sibling host
        login = web.http.cookies.jar
        assert all(not c.domain_specified for c in login), [c.domain for c in login]


# --- cookie-authenticated calls from another site -----------------------------------------

UNSAFE = ("post", "put", "patch", "delete")


def state_changing_routes(platform) -> list[tuple[str, str, str]]:
    """(service, METHOD, path template) of every unsafe route in each running service's API."""
    routes = []
    for service in ("auth", "billing", "deploy"):
        if service not in platform.processes:
            continue
        spec = httpx.get(f"{platform.url(service)}/api/{service}/openapi.json", timeout=20).json()
        for path, ops in spec["paths"].items():
            if path.startswith("/api/"):  # /oauth/* authenticate clients, never by cookie
                routes += [(service, m.upper(), path) for m in ops if m in UNSAFE]
    return routes


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


def tenant_page_origin(platform) -> str:
    return f"http://evil-tenant.apps.localhost:{platform.ports['traefik']}"


def test_cross_site_cookie_posts_to_every_state_changing_api_route_are_refused(
    edge, platform, register_verified
):
    email = register_verified()
    me = sign_in(edge, email)
    cookie = {"Cookie": f"berth_access={me.headers['Authorization'].split()[1]}"}
    ids = {}
    if "deploy" in platform.processes:
        ids["app_id"] = create_app(edge, me, "https://git.example.test/app.git")["id"]
    routes = state_changing_routes(platform)
    assert len(routes) > 20 and {s for s, _, _ in routes} >= {"auth"}
    # what a hostile tenant page makes a signed-in visitor's browser send: a form POST
    cross_site = {
        **cookie,
        "Origin": tenant_page_origin(platform),
        "Sec-Fetch-Site": "same-site",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for _, method, path in routes:
        r = edge.request(method, fill(path, ids), content=b"name=pwned", headers=cross_site)
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "csrf_failed", (method, path)
    # the same calls from the panel's origin reach the service (which judges them itself)
    from_panel = {**cross_site, "Origin": platform.public_url, "Sec-Fetch-Site": "same-origin"}
    for _, method, path in routes:
        r = edge.request(method, fill(path, {}), content=b"name=x", headers=from_panel)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:200])
        assert r.status_code != 403 or r.json()["error"]["code"] != "csrf_failed", (method, path)


def test_a_cookie_call_changes_state_only_from_the_panel(edge, platform, register_verified):
    me = sign_in(edge, register_verified())
    cookie = {"Cookie": f"berth_access={me.headers['Authorization'].split()[1]}"}
    body = {"name": "Renamed from elsewhere"}
    r = edge.patch(
        "/api/auth/v1/me", json=body, headers={**cookie, "Origin": tenant_page_origin(platform)}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert edge.get("/api/auth/v1/me", headers=me.headers).json()["name"] == "Ada"
    r = edge.patch("/api/auth/v1/me", json=body, headers={**cookie, "Origin": platform.public_url})
    assert r.status_code == 200 and r.json()["name"] == "Renamed from elsewhere"
    # Bearer clients are not browsers: no Origin rules for them
    r = edge.patch(
        "/api/auth/v1/me",
        json={"name": "By API"},
        headers={**me.headers, "Origin": tenant_page_origin(platform)},
    )
    assert r.status_code == 200 and r.json()["name"] == "By API"
    if "deploy" in platform.processes:
        app = create_app(edge, me, "https://git.example.test/app.git")
        url = f"/api/deploy/v1/apps/{app['id']}"
        r = edge.patch(url, json={"name": "x"}, headers={**cookie, "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        r = edge.patch(
            url, json={"name": "renamed"}, headers={**cookie, "Origin": platform.public_url}
        )
        assert r.status_code == 200, r.text


# --- streams -------------------------------------------------------------------------------


@pytest.mark.parametrize("resume_id", ["99999999999999999999", "abc", "-5", "1e3"])
def test_a_bad_log_stream_resume_id_is_a_400_before_the_stream(
    edge, platform, register_verified, resume_id
):
    if "deploy" not in platform.processes:
        pytest.skip("deploy is not part of this run (BERTH_E2E_SERVICES)")
    me = sign_in(edge, register_verified())
    app = create_app(edge, me, "https://git.example.test/app.git")
    for prefix in ("", "admin/"):
        headers = {**me.headers, "Last-Event-ID": resume_id}
        if prefix:  # the admin view of the same stream
            headers["Authorization"] = f"Bearer {platform_admin_token(edge)}"
        r = edge.get(f"/api/deploy/v1/{prefix}apps/{app['id']}/logs/stream", headers=headers)
        assert r.status_code == 400, (prefix, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["code"] == "invalid_resume_id"


def platform_admin_token(edge) -> str:
    return password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
