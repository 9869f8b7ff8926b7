"""The frontend over HTTP through Traefik: pages, sessions in cookies, CSRF, and the status
and access rules of every partial (what the gateway decides and what the frontend checks)."""

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from frontend_web import WebClient, location_path
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, code_from_mail

from berth_testing.oauth import PANEL_CLIENT_ID


@pytest.fixture
def web(platform):
    with WebClient(platform.public_url) as client:
        yield client


@pytest.fixture
def person(register_verified):
    return register_verified()


def signed_in(platform, email: str, password: str = PASSWORD) -> WebClient:
    client = WebClient(platform.public_url)
    client.login(email, password)
    return client


def test_public_pages_render_with_security_headers(web):
    for path in (
        "/",
        "/login",
        "/register",
        "/verify-email",
        "/forgot-password",
        "/reset-password",
    ):
        response = web.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text and " onclick=" not in response.text


def test_static_assets_are_served_with_cache_headers(web):
    page = web.get("/login").text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]+)"', page):
        response = web.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "/static/vendor/htmx.min.js" in page
    assert web.get("/static/css/berth.css").headers["cache-control"] == "public, max-age=300"
    assert web.get("/static/nope.js").status_code == 404


def test_anonymous_panel_navigation_is_sent_to_sign_in(web, platform):
    response = web.get("/panel/profile?tab=x")
    assert response.status_code == 302
    assert response.headers["location"].startswith(platform.env["BERTH_PUBLIC_URL"] + "/login?")
    assert location_path(response) == "/login?next=%2Fpanel%2Fprofile%3Ftab%3Dx"
    response = web.htmx_get("/partials/profile", page="/panel/profile")
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2Fpanel%2Fprofile"


def test_register_verify_sign_in_and_out_through_the_pages(web, platform):
    email = f"web-{platform.ports['traefik']}-{id(web)}@example.test"
    response = web.post_form(
        "/register",
        {"name": "Grace", "email": email, "password": PASSWORD, "password_confirm": PASSWORD},
        page="/register",
    )
    assert response.status_code == 303, response.text[:1000]
    assert location_path(response).startswith("/verify-email?email=")

    wrong = web.post_form("/verify-email", {"email": email, "code": "000000"}, page="/verify-email")
    assert wrong.status_code == 400 and "code" in wrong.text.lower()
    response = web.post_form(
        "/verify-email",
        {"email": email, "code": code_from_mail(platform, email)},
        page="/verify-email",
    )
    assert response.status_code == 303
    assert location_path(response).startswith("/login?verified=1")

    # a wrong password, from "another machine" (straight to the frontend, whose proxy header
    # says where the browser is): auth's brute-force counters must see that address
    bad = httpx.post(
        f"{platform.url('frontend')}/login",
        data={"email": email, "password": "wrong password 123", "csrf_token": web.csrf_token()},
        cookies={"berth_csrf": web.cookie("berth_csrf")},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert bad.status_code == 400 and "Invalid email or password" in bad.text
    assert "berth_access" not in bad.cookies

    response = web.login(email, PASSWORD, next_page="/panel/profile")
    assert location_path(response) == "/panel/profile"
    cookies = response.headers.get_list("set-cookie")
    for name in ("berth_access", "berth_refresh"):
        line = next(c for c in cookies if c.startswith(name + "="))
        assert "HttpOnly" in line and "SameSite=lax" in line and "Path=/" in line
        assert "Secure" not in line  # BERTH_PUBLIC_URL is http in tests
    page = web.get("/panel/profile")
    assert page.status_code == 200 and email in page.text
    history = web.htmx_get("/partials/profile/logins", page="/panel/profile", target="x").text
    assert "198.51.100.7" in history and "invalid credentials" in history

    refresh_token = web.cookie("berth_refresh")
    response = web.post_form("/logout", {}, page="/panel")
    assert response.status_code == 303 and location_path(response) == "/login?signed_out=1"
    assert web.cookie("berth_access") is None and web.cookie("berth_refresh") is None
    # the refresh token was revoked at auth, not just forgotten by the browser
    revoked = httpx.post(
        f"{platform.public_url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": PANEL_CLIENT_ID,
        },
    )
    assert revoked.status_code == 400
    assert web.get("/panel").status_code == 302


def test_sign_in_renews_an_expired_access_token_from_the_refresh_cookie(platform, person):
    with signed_in(platform, person) as web:
        web.http.cookies.delete("berth_access")  # what the browser does when it expires
        assert web.get("/panel/profile").status_code == 302  # the gateway sends it to /login
        # all at once, as a browser reloading several tabs: one refresh, shared by all
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.get(
                        f"{platform.public_url}/login?next=/panel/profile",
                        cookies={"berth_refresh": web.cookie("berth_refresh")},
                    ),
                    range(4),
                )
            )
        assert [a.status_code for a in answers] == [303] * 4
        assert {location_path(a) for a in answers} == {"/panel/profile"}
        renewed = {a.cookies.get("berth_refresh") for a in answers}
        assert len(renewed) == 1 and None not in renewed  # the same new pair for everyone
        web.http.cookies.clear()
        web.http.cookies.set("berth_access", answers[0].cookies["berth_access"])
        web.http.cookies.set("berth_refresh", renewed.pop())
        assert web.get("/panel/profile").status_code == 200
        # the session family survived (no reuse detected): the new refresh token still works
        web.http.cookies.delete("berth_access")
        again = web.get("/login?next=/panel")
        assert again.status_code == 303 and location_path(again) == "/panel"


@pytest.mark.parametrize(
    ("path", "data"),
    [("/login", {"email": "a@example.test", "password": "x"}), ("/logout", {})],
)
def test_forms_without_a_valid_csrf_token_are_refused(web, path, data):
    web.get("/login")  # the browser has the CSRF cookie
    assert web.http.post(path, data=data).status_code == 403
    forged = web.http.post(path, data={**data, "csrf_token": "0" * 64})
    assert forged.status_code == 403 and "security token" in forged.text
    other = WebClient(web.base_url)
    stolen_elsewhere = other.csrf_token()  # a valid token, but for another browser's cookie
    assert web.http.post(path, data={**data, "csrf_token": stolen_elsewhere}).status_code == 403
    other.close()


def test_cross_site_posts_are_refused_even_with_a_token(web):
    token = web.csrf_token()
    response = web.http.post(
        "/login",
        data={"email": "a@example.test", "password": "x", "csrf_token": token},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


def test_htmx_actions_need_the_csrf_header(platform, person):
    with signed_in(platform, person) as web:
        headers = web.htmx_headers("/panel/profile", "profile-details")
        refused = web.http.post("/partials/profile", data={"name": "Mallory"}, headers=headers)
        assert refused.status_code == 403
        assert refused.headers["x-berth-error"]
        ok = web.htmx_post(
            "/partials/profile", {"name": "Ada Lovelace"}, "/panel/profile", "profile-details"
        )
        assert ok.status_code == 200 and "Your details have been saved." in ok.text
        assert "Ada Lovelace" in web.get("/panel/profile").text


PANEL_PARTIALS = ["", "profile", "profile/sessions", "profile/logins"]
ADMIN_PARTIALS = ["", "users", "clients"]


def test_every_partial_answers_its_fragment_to_a_signed_in_person(platform, person):
    with signed_in(platform, person) as web:
        for path in PANEL_PARTIALS:
            partial = web.htmx_get(f"/partials/{path}".rstrip("/"))
            assert partial.status_code == 200, (path, partial.text[:500])
            assert "<html" not in partial.text  # a fragment, not a page
            page = web.get(f"/panel/{path}".rstrip("/"))
            assert page.status_code == 200 and "<html" in page.text
            assert 'id="main"' in page.text
        navigation = web.htmx_get("/partials/profile", target="main")
        assert navigation.headers["hx-push-url"] == "/panel/profile"
        assert 'hx-swap-oob="true"' in navigation.text  # the menu follows
        assert web.htmx_get("/partials/nope").status_code == 404
        for path in ADMIN_PARTIALS:
            refused = web.htmx_get(f"/admin/partials/{path}".rstrip("/"))
            assert refused.status_code == 403
            page = web.get(f"/admin/{path}".rstrip("/"))
            assert page.status_code == 403 and "<html" in page.text  # the frontend's 403 page
            assert "do not have access" in page.text


def test_every_admin_partial_answers_an_admin(platform):
    with signed_in(platform, ADMIN_EMAIL, ADMIN_PASSWORD) as web:
        for path in ADMIN_PARTIALS:
            partial = web.htmx_get(f"/admin/partials/{path}".rstrip("/"), page="/admin")
            assert partial.status_code == 200, (path, partial.text[:500])
            assert web.get(f"/admin/{path}".rstrip("/")).status_code == 200
        users = web.get("/admin/users?q=root-admin&sort=email")
        assert ADMIN_EMAIL in users.text


def test_the_frontend_checks_sessions_itself_too(platform, person):
    """Straight to the frontend, past the gateway: it still refuses what the gateway would."""
    frontend = platform.url("frontend")
    assert httpx.get(f"{frontend}/panel").status_code == 303
    assert (
        httpx.get(f"{frontend}/partials/profile", headers={"HX-Request": "true"}).status_code == 401
    )
    with signed_in(platform, person) as web:
        cookies = {"berth_access": web.cookie("berth_access")}
        assert httpx.get(f"{frontend}/admin/users", cookies=cookies).status_code == 403
        assert httpx.get(f"{frontend}/panel/profile", cookies=cookies).status_code == 200


@pytest.fixture
def eager_frontend(platform, tmp_path):
    """A second frontend process that treats every access token as about to expire, so each
    request refreshes it: the near-expiry path of the panel's pages, without waiting."""
    from berth_testing.processes import ManagedProcess, free_port, http_ok

    port = free_port()
    env = {**platform.env, "FRONTEND_REFRESH_MARGIN_SECONDS": "600"}
    proc = ManagedProcess(
        "frontend-eager",
        [
            str(Path(sys.executable).parent / "uvicorn"),
            "berth_frontend.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        log_dir=tmp_path,
        cwd=platform.root,
    ).start()
    try:
        proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"), timeout=40)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def test_pages_refresh_a_token_near_expiry_once_for_concurrent_requests(
    platform, person, eager_frontend
):
    with signed_in(platform, person) as web:
        cookies = {n: web.cookie(n) for n in ("berth_access", "berth_refresh")}
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda path: httpx.get(f"{eager_frontend}{path}", cookies=cookies),
                    ["/panel", "/panel/profile", "/partials/profile/sessions", "/panel"],
                )
            )
        assert [a.status_code for a in answers] == [200] * 4, [a.text[:200] for a in answers]
        renewed = {a.cookies.get("berth_refresh") for a in answers}
        assert len(renewed) == 1 and cookies["berth_refresh"] not in renewed
        fresh = {a.cookies.get("berth_access") for a in answers}
        assert len(fresh) == 1 and cookies["berth_access"] not in fresh
        # the session survived: the renewed refresh token is the family's live one
        again = httpx.get(
            f"{eager_frontend}/panel",
            cookies={"berth_access": fresh.pop(), "berth_refresh": renewed.pop()},
        )
        assert again.status_code == 200 and again.cookies.get("berth_refresh")
