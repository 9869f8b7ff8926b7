"""The gateway's edge policy for browsers and revocation: cookie-authenticated unsafe calls
must come from a platform origin, and revoked sessions, clients and users are refused."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from gateway_testkit import TokenFactory, assert_error, forwarded, gateway_settings

from berth_common.revocation import Denylist, Revocations
from berth_common.security import JWKSCache
from berth_gateway.main import create_app

PLATFORM = "http://localhost:8080"


def cookie_call(uri: str, token: str, method: str = "POST", **extra: str) -> dict[str, str]:
    return forwarded(uri, method=method, Cookie=f"berth_access={token}", **extra)


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("POST", "/api/deploy/v1/apps/a1/deploy"),
        ("DELETE", "/api/deploy/v1/apps/a1"),
        ("PUT", "/api/auth/v1/admin/users/u1/roles"),
        ("PATCH", "/api/auth/v1/me"),
        ("POST", "/API/Billing/v1/topups"),
        ("POST", "/ops/flower/auth/api/task/revoke/x"),
    ],
)
@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": "http://evil.apps.localhost:8080", "Sec-Fetch-Site": "same-site"},
        {"Origin": "https://localhost:8080"},  # another scheme is another origin
        {"Origin": "http://localhost:8081"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {},  # neither header: nothing vouches for the caller
    ],
)
async def test_cross_site_cookie_calls_to_apis_are_refused(
    gateway: httpx.AsyncClient, make_token: TokenFactory, method: str, uri: str, browser: dict
) -> None:
    token = make_token(sub="u-1", roles=["user", "admin", "oncall"])
    response = await gateway.get("/verify", headers=cookie_call(uri, token, method, **browser))
    assert_error(response, 403, "csrf_failed")


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": PLATFORM, "Sec-Fetch-Site": "same-origin"},
        {"Origin": PLATFORM},
        {"Origin": "HTTP://LOCALHOST:8080"},
        {"Sec-Fetch-Site": "same-origin"},
    ],
)
async def test_the_same_cookie_call_from_the_panel_passes(
    gateway: httpx.AsyncClient, make_token: TokenFactory, browser: dict
) -> None:
    token = make_token(sub="u-2")
    uri = "/api/deploy/v1/apps/a1/deploy"
    response = await gateway.get("/verify", headers=cookie_call(uri, token, **browser))
    assert response.status_code == 200, response.text
    assert response.headers["x-user-id"] == "u-2"


async def test_bearer_clients_and_safe_methods_are_not_affected(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(sub="u-3")
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    bearer = forwarded("/api/deploy/v1/apps/a1/deploy", method="POST", token=token, **evil)
    assert (await gateway.get("/verify", headers=bearer)).status_code == 200
    read = cookie_call("/api/deploy/v1/apps", token, method="GET", **evil)
    assert (await gateway.get("/verify", headers=read)).status_code == 200
    # the frontend's own forms carry its CSRF token and are checked there
    page = cookie_call("/panel/apps/a1/deploy", token, **evil)
    assert (await gateway.get("/verify", headers=page)).status_code == 200


async def test_the_admin_host_is_a_platform_origin_too(
    gateway_factory: Callable[..., httpx.AsyncClient], make_token: TokenFactory
) -> None:
    async with gateway_factory(BERTH_ADMIN_URL="https://admin.berth.example") as gateway:
        token = make_token(sub="u-4", roles=["user", "admin"])
        uri = "/api/auth/v1/admin/users/u1/block"
        ok = cookie_call(uri, token, Origin="https://admin.berth.example")
        assert (await gateway.get("/verify", headers=ok)).status_code == 200
        other = cookie_call(uri, token, Origin="https://admin.berth.example:8443")
        assert_error(await gateway.get("/verify", headers=other), 403, "csrf_failed")


# --- revocation: the denylist is consulted on every call, cached token or not -----------------


def revoked(**entries: list[dict[str, Any]]) -> Revocations:
    until = int(time.time()) + 600
    return Revocations.model_validate(
        {kind: [{"until": until, **entry} for entry in items] for kind, items in entries.items()}
    )


async def test_a_revoked_session_is_refused_even_when_its_token_is_cached(
    gateway: httpx.AsyncClient, make_token: TokenFactory, denylist: Denylist
) -> None:
    token = make_token(sub="u-5", sid="family-1")
    other = make_token(sub="u-5", sid="family-2")
    headers = forwarded("/api/deploy/v1/apps", token=token)
    assert (await gateway.get("/verify", headers=headers)).status_code == 200  # now cached
    denylist.merge(revoked(sessions=[{"id": "family-1"}]))
    response = await gateway.get("/verify", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.json()["error"]["message"] == "Access token has been revoked"
    same_user = forwarded("/api/deploy/v1/apps", token=other)
    assert (await gateway.get("/verify", headers=same_user)).status_code == 200


async def test_a_revoked_machine_client_is_refused(
    gateway: httpx.AsyncClient, make_token: TokenFactory, denylist: Denylist
) -> None:
    token = make_token(sub="team-9", client_id="team-9", roles=[], scope="billing:read")
    headers = forwarded("/api/billing/v1/plans/x", token=token)
    assert (await gateway.get("/verify", headers=headers)).status_code == 200
    denylist.merge(revoked(clients=[{"id": "team-9"}]))
    assert_error(await gateway.get("/verify", headers=headers), 401, "unauthorized")


async def test_tokens_issued_before_a_users_not_before_are_refused(
    gateway: httpx.AsyncClient, make_token: TokenFactory, denylist: Denylist
) -> None:
    old = make_token(sub="u-6", roles=["user", "admin"])
    headers = forwarded("/api/auth/v1/admin/users", token=old)
    assert (await gateway.get("/verify", headers=headers)).status_code == 200
    not_before = int(time.time()) + 1  # e.g. the admin role was just taken away
    denylist.merge(revoked(users=[{"id": "u-6", "not_before": not_before}]))
    assert_error(await gateway.get("/verify", headers=headers), 401, "unauthorized")
    # what auth issues from now on carries an iat at or after not_before
    fresh = make_token(sub="u-6", roles=["user"], iat=not_before)
    response = await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token=fresh))
    assert response.status_code == 200


async def test_until_the_denylist_is_loaded_tokens_get_503(
    jwks_document: dict[str, Any], make_token: TokenFactory
) -> None:
    jwks = JWKSCache("http://127.0.0.1:9/jwks", ttl_seconds=3600, min_refetch_seconds=3600)
    jwks.load(jwks_document)
    app = create_app(gateway_settings(), jwks=jwks, denylist=Denylist())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        unloaded = await client.get("/verify", headers=forwarded("/api/x", token=make_token()))
        assert_error(unloaded, 503, "service_unavailable")
        public = await client.get("/verify", headers=forwarded("/oauth/token", "POST"))
        assert public.status_code == 200
