"""Cookie names and flags follow the public URL: `__Host-` prefixed and Secure over https
(a tenant's sibling subdomain can neither plant nor shadow them), host-only over http."""

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from frontend_testkit import csrf_token, settings_for
from starlette.requests import Request

from berth_frontend.main import create_app
from berth_frontend.web.session import TokenPair, set_session_cookies
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

HTTPS_URL = "https://berth.example"
USER_ID = "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90"


def set_cookies(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """name -> attributes (lower-cased keys, "value" included) of every Set-Cookie."""
    found: dict[str, dict[str, Any]] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            attrs = {k: v for k, v in morsel.items() if v}
            found[name] = {**attrs, "value": morsel.value, "raw": header}
    return found


@pytest.fixture
async def https_frontend(down_url: str, public_jwks: dict) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(HTTPS_URL, down_url))
    trust_keys(app, public_jwks)
    async with app_client(app, base_url=HTTPS_URL) as client:
        yield client


def token(signing_jwks: dict) -> str:
    return mint_access_token(signing_jwks, issuer=HTTPS_URL, subject=USER_ID, roles=["user"])


async def test_csrf_cookie_is_host_prefixed_and_secure_over_https(https_frontend):
    cookies = set_cookies(await https_frontend.get("/login"))
    assert set(cookies) == {"__Host-berth_csrf"}
    csrf = cookies["__Host-berth_csrf"]
    assert csrf["secure"] and csrf["httponly"] and csrf["path"] == "/"
    assert "domain" not in csrf and "domain=" not in csrf["raw"].lower()


async def test_session_cookie_is_read_only_under_its_host_prefixed_name(
    https_frontend, signing_jwks
):
    # a plain-named cookie (what a sibling subdomain could plant over http) is not a session
    https_frontend.cookies.set("berth_access", token(signing_jwks), domain="berth.example")
    page = await https_frontend.get("/panel")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    https_frontend.cookies.clear()
    https_frontend.cookies.set("__Host-berth_access", token(signing_jwks), domain="berth.example")
    page = await https_frontend.get("/panel")
    assert page.status_code == 200, page.text[:300]


async def test_logout_clears_the_host_prefixed_cookies(https_frontend, signing_jwks):
    csrf = await csrf_token(https_frontend)
    https_frontend.cookies.set("__Host-berth_access", token(signing_jwks), domain="berth.example")
    response = await https_frontend.post(
        "/logout", data={"csrf_token": csrf}, headers={"Origin": HTTPS_URL}
    )
    assert response.status_code == 303
    cleared = set_cookies(response)
    for name in ("__Host-berth_access", "__Host-berth_refresh"):
        assert cleared[name]["max-age"] == "0" and cleared[name]["secure"], cleared[name]
        assert "domain" not in cleared[name] and cleared[name]["path"] == "/"


@pytest.mark.parametrize(
    ("public_url", "names", "secure"),
    [
        (HTTPS_URL, ("__Host-berth_access", "__Host-berth_refresh"), True),
        ("http://localhost:8080", ("berth_access", "berth_refresh"), False),
    ],
)
def test_sign_in_sets_session_cookies_by_the_public_url(down_url, public_url, names, secure):
    settings = settings_for(public_url, down_url)
    request = Request({"type": "http", "method": "POST", "headers": [], "state": {}})
    set_session_cookies(request, TokenPair("access.jwt.token", 600, "refresh-token"), settings)
    response = httpx.Response(200, headers=request.state.berth_cookies)
    cookies = set_cookies(response)
    assert set(cookies) == set(names)
    for name in names:
        attrs = cookies[name]
        assert attrs["httponly"] and attrs["path"] == "/" and attrs["samesite"].lower() == "lax"
        assert bool(attrs.get("secure")) is secure
        assert "domain" not in attrs
