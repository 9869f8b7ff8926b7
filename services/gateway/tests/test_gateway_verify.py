"""/verify as Traefik's forwardAuth calls it, with real ES256 tokens."""

import secrets
import socket
from collections.abc import Callable

import httpx
import pytest
from gateway_testkit import (
    IDENTITY,
    TokenFactory,
    assert_error,
    forwarded,
    gateway_settings,
    sign_token,
)
from joserfc.jwk import ECKey

from berth_gateway.main import create_app


async def test_valid_user_token_passes_with_identity_headers(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(sub="user-42", roles=["user", "support"], scope="openid profile")
    response = await gateway.get(
        "/verify", headers=forwarded("/api/billing/v1/accounts/me", token=token)
    )
    assert response.status_code == 200
    assert response.headers["x-user-id"] == "user-42"
    assert response.headers["x-user-kind"] == "user"
    assert response.headers["x-user-roles"] == "support,user"
    assert response.headers["x-user-scopes"] == "openid profile"
    assert response.headers["x-client-id"] == "berth-web"
    assert response.headers["x-request-id"]


async def test_the_access_cookie_works_like_a_bearer_token(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    headers = forwarded("/api/deploy/v1/apps", Cookie=f"berth_access={make_token(sub='u-7')}")
    response = await gateway.get("/verify", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-user-id"] == "u-7"


async def test_over_https_only_the_host_prefixed_access_cookie_counts(
    gateway_factory: Callable[..., httpx.AsyncClient], signing_key: ECKey
) -> None:
    issuer = "https://berth.example"
    token = sign_token(signing_key, sub="u-8", issuer=issuer)
    async with gateway_factory(BERTH_PUBLIC_URL=issuer) as gateway:
        planted = forwarded("/api/deploy/v1/apps", Cookie=f"berth_access={token}")
        response = await gateway.get("/verify", headers=planted)
        assert response.status_code == 401, response.text
        prefixed = forwarded("/api/deploy/v1/apps", Cookie=f"__Host-berth_access={token}")
        response = await gateway.get("/verify", headers=prefixed)
        assert response.status_code == 200 and response.headers["x-user-id"] == "u-8"


async def test_request_id_from_traefik_is_kept(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    headers = forwarded("/api/x/v1/y", token=make_token(), X_Request_Id="req-123")
    response = await gateway.get("/verify", headers=headers)
    assert response.headers["x-request-id"] == "req-123"


@pytest.mark.parametrize(
    "token_kind",
    ["missing", "expired", "garbled", "other_key", "wrong_audience", "wrong_issuer", "wrong_typ"],
)
async def test_bad_or_missing_tokens_get_401_with_a_bearer_challenge(
    gateway: httpx.AsyncClient, signing_key: ECKey, other_key: ECKey, token_kind: str
) -> None:
    tokens = {
        "missing": None,
        "expired": lambda: sign_token(signing_key, expires_in=-60),
        "garbled": lambda: sign_token(signing_key)[:-12] + "AAAAAAAAAAAA",
        "other_key": lambda: sign_token(other_key),
        "wrong_audience": lambda: sign_token(signing_key, audience="someone-else"),
        "wrong_issuer": lambda: sign_token(signing_key, issuer="https://evil.example"),
        "wrong_typ": lambda: sign_token(signing_key, typ="JWT"),
    }
    make = tokens[token_kind]
    token = make() if make else None
    response = await gateway.get("/verify", headers=forwarded("/api/auth/v1/me", token=token))
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith('Bearer realm="berth"')


async def test_non_bearer_authorization_is_refused(gateway: httpx.AsyncClient) -> None:
    headers = forwarded("/api/auth/v1/me", Authorization="Basic dXNlcjpwYXNz")
    response = await gateway.get("/verify", headers=headers)
    assert_error(response, 401, "unauthorized")


async def test_user_token_on_admin_route_is_forbidden(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(roles=["user"])
    for uri in ("/api/auth/v1/admin/users", "/api/auth/v1/%61dmin/users", "/admin/"):
        response = await gateway.get("/verify", headers=forwarded(uri, token=token))
        assert_error(response, 403, "forbidden")


async def test_admin_token_on_admin_route_passes(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    token = make_token(sub="admin-1", roles=["user", "admin"])
    response = await gateway.get(
        "/verify", headers=forwarded("/api/auth/v1/admin/users", "DELETE", token=token)
    )
    assert response.status_code == 200
    assert response.headers["x-user-roles"] == "admin,user"


async def test_ops_needs_oncall_or_admin(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    oncall = make_token(sub="o-1", roles=["oncall"])
    person = make_token(sub="u-1", roles=["user", "support"])
    allowed = await gateway.get("/verify", headers=forwarded("/ops/billing", token=oncall))
    denied = await gateway.get("/verify", headers=forwarded("/ops/billing", token=person))
    assert allowed.status_code == 200
    assert_error(denied, 403, "forbidden")


async def test_machine_client_needs_service_scope(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    unscoped = make_token(sub="team-a", client_id="team-a", roles=[], scope="deploy:read")
    scoped = make_token(sub="team-b", client_id="team-b", roles=[], scope="billing:read")

    denied = await gateway.get(
        "/verify", headers=forwarded("/api/billing/v1/invoices", token=unscoped)
    )
    assert_error(denied, 403, "insufficient_scope")
    assert 'scope="billing:read"' in denied.headers["www-authenticate"]

    allowed = await gateway.get(
        "/verify", headers=forwarded("/api/billing/v1/invoices", token=scoped)
    )
    assert allowed.status_code == 200
    assert allowed.headers["x-user-kind"] == "client"
    assert allowed.headers["x-client-id"] == "team-b"
    assert allowed.headers["x-user-roles"] == ""

    write = await gateway.get(
        "/verify", headers=forwarded("/api/billing/v1/invoices", "POST", token=scoped)
    )
    assert_error(write, 403, "insufficient_scope")
    assert write.json()["error"]["details"] == {"required_scope": "billing:write"}


async def test_forged_identity_headers_are_not_echoed(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    forged = {"X-User-Id": "admin", "X-User-Roles": "admin", "X-Client-Id": "root"}
    anonymous = await gateway.get(
        "/verify", headers={**forwarded("/oauth/token", "POST"), **forged}
    )
    assert anonymous.status_code == 200
    assert not any(name in anonymous.headers for name in IDENTITY)

    signed_in = await gateway.get(
        "/verify", headers={**forwarded("/api/x/v1/y", token=make_token(sub="u-9")), **forged}
    )
    assert signed_in.headers["x-user-id"] == "u-9"
    assert signed_in.headers["x-user-roles"] == "user"
    assert signed_in.headers["x-client-id"] == "berth-web"


async def test_public_routes_pass_with_or_without_a_good_token(
    gateway: httpx.AsyncClient, make_token: TokenFactory, other_key: ECKey
) -> None:
    with_token = await gateway.get(
        "/verify", headers=forwarded("/api/auth/v1/register", "POST", token=make_token(sub="u-5"))
    )
    assert with_token.status_code == 200
    assert with_token.headers["x-user-id"] == "u-5"

    for bad in (sign_token(other_key), "not-a-jwt"):
        response = await gateway.get(
            "/verify", headers=forwarded("/.well-known/jwks.json", token=bad)
        )
        assert response.status_code == 200
        assert "x-user-id" not in response.headers

    basic = await gateway.get(
        "/verify", headers=forwarded("/oauth/token", "POST", Authorization="Basic Y2xpZW50OnM=")
    )
    assert basic.status_code == 200


async def test_cors_preflight_passes_without_credentials(gateway: httpx.AsyncClient) -> None:
    headers = forwarded(
        "/api/billing/v1/admin/prices",
        "OPTIONS",
        Origin="http://localhost:3000",
        Access_Control_Request_Method="POST",
    )
    response = await gateway.get("/verify", headers=headers)
    assert response.status_code == 200
    plain_options = await gateway.get(
        "/verify", headers=forwarded("/api/billing/v1/admin/prices", "OPTIONS")
    )
    assert_error(plain_options, 401, "unauthorized")


@pytest.mark.parametrize(
    "uri", ["/api/x/../auth/v1/admin", "/api/auth/v1/admin%2Fusers", "/a//b", "/a/%2e%2e/b"]
)
async def test_ambiguous_paths_get_400(gateway: httpx.AsyncClient, uri: str) -> None:
    response = await gateway.get("/verify", headers=forwarded(uri))
    assert_error(response, 400, "invalid_path")


async def test_verify_without_forwarded_uri_is_a_bad_request(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/verify")
    assert_error(response, 400, "invalid_path")


async def test_any_method_reaches_verify(gateway: httpx.AsyncClient) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = await gateway.request(method, "/verify", headers=forwarded("/health"))
        assert response.status_code == 200


async def test_verify_answers_are_counted_under_their_route(
    gateway: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token=make_token()))
    await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token="garbled"))
    metrics = (await gateway.get("/metrics")).text
    for status in ("200", "401"):
        labels = f'method="GET",route="/verify",service="gateway",status="{status}"'
        assert f"berth_http_requests_total{{{labels}}}" in metrics


async def test_other_methods_on_verify_get_the_common_405(gateway: httpx.AsyncClient) -> None:
    response = await gateway.request("TRACE", "/verify", headers=forwarded("/health"))
    assert_error(response, 405, "method_not_allowed")


async def test_anonymous_callers_are_limited_per_client_ip(
    gateway_factory: Callable[..., httpx.AsyncClient],
) -> None:
    async with gateway_factory(rate_limit_anonymous="3/minute") as gateway:
        for _ in range(3):
            response = await gateway.get("/verify", headers=forwarded("/oauth/token", "POST"))
            assert response.status_code == 200
        limited = await gateway.get("/verify", headers=forwarded("/oauth/token", "POST"))
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60

        other_ip = forwarded("/oauth/token", "POST", X_Forwarded_For="198.51.100.1")
        assert (await gateway.get("/verify", headers=other_ip)).status_code == 200
        # only the right-most entry (what Traefik saw) counts: a spoofed prefix changes nothing
        spoofed = forwarded("/oauth/token", "POST", X_Forwarded_For="1.1.1.1, 203.0.113.7")
        assert (await gateway.get("/verify", headers=spoofed)).status_code == 429

        # failed authentication counts against the IP too
        no_token = await gateway.get("/verify", headers=forwarded("/api/x/v1/y"))
        assert_error(no_token, 429, "rate_limited")


async def test_principals_are_limited_separately(
    gateway_factory: Callable[..., httpx.AsyncClient], make_token: TokenFactory
) -> None:
    async with gateway_factory(rate_limit_authenticated="2/minute") as gateway:
        alice, bob = make_token(sub="alice"), make_token(sub="bob")
        for _ in range(2):
            ok = await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token=alice))
            assert ok.status_code == 200
        limited = await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token=alice))
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        other = await gateway.get("/verify", headers=forwarded("/api/x/v1/y", token=bob))
        assert other.status_code == 200


async def test_ready_reports_jwks(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/ready")
    assert response.status_code == 200
    assert response.json()["service"] == "gateway"


async def test_ready_fails_when_jwks_cannot_be_loaded(make_token: TokenFactory) -> None:
    app = create_app(gateway_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        # neither keys nor revocations could be loaded from auth (nothing listens there)
        assert response.json()["error"]["details"] == {
            "jwks_loaded": "ServiceUnavailable",
            "revocations_loaded": "ServiceUnavailable",
        }
        unavailable = await client.get(
            "/verify", headers=forwarded("/api/x/v1/y", token=make_token())
        )
        assert_error(unavailable, 503, "service_unavailable")
        public = await client.get(
            "/verify", headers=forwarded("/oauth/token", "POST", token=make_token())
        )
        assert public.status_code == 200


async def test_rate_limit_storage_outage_lets_requests_through(
    gateway_factory: Callable[..., httpx.AsyncClient],
) -> None:
    unreachable = f"redis://127.0.0.1:{unused_port()}"
    async with gateway_factory(
        rate_limit_storage_url=unreachable, rate_limit_anonymous="1/minute"
    ) as gateway:
        for _ in range(3):
            response = await gateway.get("/verify", headers=forwarded("/oauth/token", "POST"))
            assert response.status_code == 200


async def test_redis_counters_are_shared_between_gateway_replicas(
    gateway_factory: Callable[..., httpx.AsyncClient],
) -> None:
    if not redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379 (optional: rate limits default to memory://)")
    settings = {
        "rate_limit_storage_url": "async+redis://127.0.0.1:6379",
        "rate_limit_anonymous": "2/minute",
    }
    client_ip = f"198.18.{secrets.randbelow(255)}.{secrets.randbelow(255)}"
    headers = forwarded("/oauth/token", "POST", X_Forwarded_For=client_ip)
    async with gateway_factory(**settings) as first, gateway_factory(**settings) as second:
        assert (await first.get("/verify", headers=headers)).status_code == 200
        assert (await second.get("/verify", headers=headers)).status_code == 200
        assert_error(await first.get("/verify", headers=headers), 429, "rate_limited")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- cookie-authenticated calls must come from a platform page ----------------------------
