"""The edge as an attacker meets it: forged identity headers, wrong tokens, wrong roles,
machine clients with and without scopes, and junk input on every endpoint."""

import re
import time
import uuid

import httpx
import pytest
from deploy_e2e import create_app, sign_in
from frontend_web import WebClient
from joserfc import jwt
from joserfc.jwk import ECKey
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_common.testing.oauth import bearer, password_login


@pytest.fixture(scope="module")
def person(platform, register_verified) -> dict:
    with httpx.Client(base_url=platform.public_url, timeout=20) as c:
        email = register_verified()
        tokens = password_login(c, email, PASSWORD).json()
        me = c.get("/api/auth/v1/me", headers=bearer(tokens["access_token"])).json()
        return {"email": email, "id": me["id"], **tokens}


def forged_token(platform, **claims) -> str:
    now = int(time.time())
    key = ECKey.generate_key("P-256", auto_kid=True)
    body = {
        "iss": platform.env["BERTH_PUBLIC_URL"],
        "aud": "berth",
        "sub": str(uuid.uuid4()),
        "client_id": "berth-panel",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": "",
        "roles": ["user", "admin"],
        **claims,
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, body, key)


FORGED = {
    "X-User-Id": None,
    "X_User_Id": None,
    "X-User-Roles": "admin",
    "X_User_Roles": "admin",
    "X-User-Kind": "user",
}


def forged_headers(user_id: str) -> dict[str, str]:
    return {k: (v if v is not None else user_id) for k, v in FORGED.items()}


def test_forged_identity_headers_are_ignored(edge, person, admin_token):
    admin_id = edge.get("/api/auth/v1/me", headers=bearer(admin_token)).json()["id"]
    # no token, forged identity: still unauthenticated
    for path in ("/api/auth/v1/me", "/api/auth/v1/admin/users", "/api/auth/v1/me/sessions"):
        r = edge.get(path, headers=forged_headers(admin_id))
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].lower().startswith("bearer")
    # a real token plus a forged identity: the token wins everywhere
    h = {**bearer(person["access_token"]), **forged_headers(admin_id)}
    assert edge.get("/api/auth/v1/me", headers=h).json()["id"] == person["id"]
    assert edge.get("/api/auth/v1/admin/users", headers=h).status_code == 403
    # public routes still work and ignore the forgery
    r = edge.post(
        "/api/auth/v1/password-reset/request",
        json={"email": person["email"]},
        headers=forged_headers(admin_id),
    )
    assert r.status_code == 202


def test_user_token_on_admin_route_is_refused_at_gateway_and_service(edge, platform, person):
    r = edge.get("/api/auth/v1/admin/users", headers=bearer(person["access_token"]))
    assert r.status_code == 403 and r.json()["error"]["code"] in ("forbidden", "insufficient_scope")
    direct = httpx.get(
        f"{platform.url('auth')}/api/auth/v1/admin/users", headers=bearer(person["access_token"])
    )
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "forbidden"
    # the same path spelled to dodge a prefix rule is refused too
    for dodge in (
        "/api/auth/v1/%61dmin/users",
        "/api/auth/v1//admin/users",
        "/api/auth/v1/me/../admin/users",
    ):
        r = edge.get(dodge, headers=bearer(person["access_token"]))
        assert r.status_code in (400, 403, 404), (dodge, r.status_code)


def test_admin_can_list_search_and_block(edge, admin_token, register_verified):
    email = register_verified()
    r = edge.get(
        "/api/auth/v1/admin/users", params={"q": email.split("@")[0]}, headers=bearer(admin_token)
    )
    assert r.status_code == 200, r.text
    users = r.json()["items"]
    assert [u["email"] for u in users] == [email]
    uid = users[0]["id"]
    assert (
        edge.post(
            f"/api/auth/v1/admin/users/{uid}/block",
            json={"reason": "abuse"},
            headers=bearer(admin_token),
        ).status_code
        == 200
    )
    assert password_login(edge, email, PASSWORD).status_code == 400
    assert (
        edge.post(
            f"/api/auth/v1/admin/users/{uid}/unblock", headers=bearer(admin_token)
        ).status_code
        == 200
    )
    assert password_login(edge, email, PASSWORD).status_code == 200
    r = edge.put(
        f"/api/auth/v1/admin/users/{uid}/roles",
        json={"roles": ["user", "oncall"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 200 and sorted(r.json()["roles"]) == ["oncall", "user"]
    tokens = password_login(edge, email, PASSWORD).json()
    assert (
        "oncall"
        in edge.get("/api/auth/v1/me", headers=bearer(tokens["access_token"])).json()["roles"]
    )


@pytest.mark.parametrize("kind", ["expired", "garbled", "other_key", "wrong_issuer", "none_alg"])
def test_bad_tokens_are_401_at_the_edge(edge, platform, kind):
    now = int(time.time())
    token = {
        "expired": lambda: forged_token(platform, exp=now - 120, iat=now - 900),
        "garbled": lambda: "eyJhbGciOiJFUzI1NiJ9.garbage.sig",
        "other_key": lambda: forged_token(platform),
        "wrong_issuer": lambda: forged_token(platform, iss="http://evil.example"),
        "none_alg": lambda: "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.",
    }[kind]()
    r = edge.get("/api/auth/v1/me", headers=bearer(token))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert "bearer" in r.headers["www-authenticate"].lower()


def test_machine_client_with_and_without_scope(edge, admin_token, person):
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "billing team", "scopes": ["auth:read"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 201, r.text
    reader = r.json()
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "metrics team", "scopes": ["billing:read"]},
        headers=bearer(admin_token),
    )
    other = r.json()

    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(reader["client_id"], reader["client_secret"]),
    )
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()
    token = r.json()["access_token"]
    r = edge.get(f"/api/auth/v1/users/{person['id']}", headers=bearer(token))
    assert r.status_code == 200 and r.json()["email"] == person["email"]

    # asking for a scope the client was not granted
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(other["client_id"], other["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # a token without the scope is refused at the gateway
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(other["client_id"], other["client_secret"]),
    )
    token = r.json()["access_token"]
    r = edge.get(f"/api/auth/v1/users/{person['id']}", headers=bearer(token))
    assert r.status_code == 403
    # a wrong secret
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(reader["client_id"], "nope"),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # a person's token on the directory without admin/support role
    assert (
        edge.get(
            f"/api/auth/v1/users/{person['id']}", headers=bearer(person["access_token"])
        ).status_code
        == 403
    )


JUNK_BODIES = [
    b"{not json",
    b"[]",
    b'{"email": 5, "password": null, "name": {"a": 1}}',
    b'{"email": "' + b"a" * 5000 + b'@x.io", "password": "' + b"p" * 5000 + b'"}',
    b'{"email": "x@y.z", "password": "short", "code": "12", "roles": ["god"], "scopes": ["*"]}',
    '{"name": "\u0000\ud800"}'.encode("utf-8", "surrogatepass"),
]


def test_every_endpoint_rejects_malformed_input_with_4xx(edge, platform, admin_token):
    spec = httpx.get(f"{platform.url('auth')}/api/auth/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        concrete = (
            path.replace("{user_id}", "not-a-uuid")
            .replace("{client_id}", "nope")
            .replace("{session_id}", "x")
        )
        concrete = concrete.replace("{id}", "not-a-uuid")
        for method in ops:
            if method not in ("post", "put", "patch", "delete", "get"):
                continue
            for body in JUNK_BODIES:
                for ctype in ("application/json", "application/x-www-form-urlencoded"):
                    r = edge.request(
                        method.upper(),
                        concrete,
                        content=body,
                        headers={**bearer(admin_token), "Content-Type": ctype},
                    )
                    assert r.status_code < 500, (
                        method,
                        concrete,
                        body[:40],
                        r.status_code,
                        r.text[:200],
                    )
                    checked += 1
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        for body in JUNK_BODIES:
            r = edge.post(
                path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
    assert checked > 50


def test_platform_services_have_their_own_machine_clients(edge, platform):
    """Bootstrap keeps the services' clients from AUTH_SERVICE_CLIENTS; billing may read users."""
    env = platform.env
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(env["BILLING_CLIENT_ID"], env["BILLING_CLIENT_SECRET"]),
    )
    assert r.status_code == 200, r.text
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "deploy:write"},
        auth=(env["BILLING_CLIENT_ID"], env["BILLING_CLIENT_SECRET"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


# --- platform and tenant hosts ------------------------------------------------------------

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
