"""Pages, headers, static assets, CSRF and sign-in redirects, in-process."""

import pytest
from frontend_testkit import csrf_token

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


async def test_public_pages_render_with_strict_headers(frontend):
    for path in ("/login", "/register", "/verify-email", "/forgot-password", "/reset-password"):
        response = await frontend.get(path)
        assert response.status_code == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert response.headers["cache-control"] == "no-store"


async def test_user_input_is_escaped(frontend):
    response = await frontend.get("/verify-email", params={"email": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in response.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_landing_says_pricing_is_unavailable_when_billing_is_down(frontend):
    response = await frontend.get("/")
    assert response.status_code == 200
    assert 'data-unavailable="billing"' in response.text
    assert "Pricing is unavailable right now" in response.text


async def test_static_files_carry_cache_headers(frontend):
    versioned = await frontend.get("/static/js/berth.js?v=abc")
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await frontend.get("/static/css/berth.css")
    assert plain.headers["cache-control"] == "public, max-age=300"
    assert (await frontend.get("/static/../main.py")).status_code == 404


async def test_pages_reference_fingerprinted_assets(frontend):
    html = (await frontend.get("/login")).text
    assert "/static/css/berth.css?v=" in html and "/static/js/berth.js?v=" in html
    assert "<script>" not in html and "style=" not in html


@pytest.mark.parametrize("path", ["/panel", "/panel/apps?page=2", "/admin/users"])
async def test_signed_out_navigation_goes_to_sign_in(frontend, path):
    response = await frontend.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_signed_out_htmx_request_gets_hx_redirect(frontend):
    response = await frontend.get(
        "/partials/profile",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost:8080/panel/profile"},
    )
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2Fpanel%2Fprofile"


async def test_sign_in_ignores_foreign_next_targets(frontend):
    token = await csrf_token(frontend)
    response = await frontend.post(
        "/login",
        data={"email": "a@example.test", "password": "x", "next": "//evil.example/"},
        headers={"X-CSRF-Token": token},
    )
    # auth is down: the form says so, and nothing redirects anywhere
    assert response.status_code == 503
    assert "location" not in response.headers
    assert "unavailable right now" in response.text


async def test_posts_without_csrf_token_are_refused(frontend):
    await frontend.get("/login")
    refused = await frontend.post("/login", data={"email": "a@example.test", "password": "x"})
    assert refused.status_code == 403
    assert "security token" in refused.text
    wrong = await frontend.post(
        "/login", data={"email": "a@example.test", "password": "x", "csrf_token": "f" * 64}
    )
    assert wrong.status_code == 403


async def test_cross_origin_posts_are_refused(frontend):
    token = await csrf_token(frontend)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await frontend.post("/logout", data={"csrf_token": token}, headers=headers)
        assert response.status_code == 403, headers


async def test_a_valid_token_passes_csrf(frontend):
    token = await csrf_token(frontend)
    response = await frontend.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "http://localhost:8080"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"


async def test_oversized_bodies_are_refused(frontend):
    response = await frontend.post("/login", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413


async def test_unknown_pages_are_a_404_page(frontend):
    response = await frontend.get("/nope")
    assert response.status_code == 404 and "Page not found" in response.text


async def test_public_pages_know_a_signed_in_person(frontend, sign_in_as):
    assert "Go to your panel" not in (await frontend.get("/errors/403")).text
    assert "Open your panel" not in (await frontend.get("/")).text
    sign_in_as()
    error = await frontend.get("/errors/403")
    assert error.status_code == 403 and "Go to your panel" in error.text
    assert "Open your panel" in (await frontend.get("/")).text
    moved_on = await frontend.get("/register")
    assert moved_on.status_code == 303 and moved_on.headers["location"] == "/panel"
