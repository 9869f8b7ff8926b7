"""Helpers shared by the gateway tests: signed test tokens and test settings."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from berth_gateway.config import GatewaySettings

ISSUER = "http://localhost:8080"
AUDIENCE = "berth"

TokenFactory = Callable[..., str]


def sign_token(
    key: ECKey,
    *,
    sub: str = "user-1",
    client_id: str = "berth-web",
    roles: list[str] | None = None,
    scope: str = "",
    expires_in: int = 300,
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
    typ: str = "at+jwt",
    **extra_claims: Any,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "client_id": client_id,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        "scope": scope,
        "roles": ["user"] if roles is None else roles,
        **extra_claims,
    }
    header = {"alg": "ES256", "typ": typ, "kid": key.kid}
    return jwt.encode(header, claims, key)


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "BERTH_PUBLIC_URL": ISSUER,
        "TOKEN_AUDIENCE": AUDIENCE,
        "JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",
        "LOG_LEVEL": "WARNING",
        "rate_limit_storage_url": "memory://",
        "rate_limit_authenticated": "1000/minute",
        "rate_limit_anonymous": "1000/minute",
    }
    values.update(overrides)
    return GatewaySettings(**values)


IDENTITY = ("x-user-id", "x-user-kind", "x-user-roles", "x-user-scopes", "x-client-id")


def forwarded(
    uri: str,
    method: str = "GET",
    token: str | None = None,
    **extra: str,
) -> dict[str, str]:
    headers = {
        "X-Forwarded-Method": method,
        "X-Forwarded-Uri": uri,
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "localhost:8080",
        "X-Forwarded-For": "203.0.113.7",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    assert not any(name in response.headers for name in IDENTITY)
