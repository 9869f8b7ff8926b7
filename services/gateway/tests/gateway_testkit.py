"""Helpers shared by the gateway tests: signed test tokens and test settings."""

import time
import uuid
from collections.abc import Callable
from typing import Any

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
