"""Small client-side helpers for tests and benchmarks that log in like the panel does."""

import httpx

PANEL_CLIENT_ID = "berth-panel"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def password_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": email,
            "password": password,
            "client_id": PANEL_CLIENT_ID,
        },
    )


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": PANEL_CLIENT_ID,
        },
    )


def mint_access_token(
    signing_jwks: dict,
    *,
    issuer: str,
    subject: str,
    roles: list[str] | None = None,
    scope: str = "",
    client_id: str = PANEL_CLIENT_ID,
    lifetime: int = 600,
    audience: str = "berth",
    session_id: str | None = None,
) -> str:
    """An access token as auth issues it (RFC 9068 profile), for a service's in-process tests.

    People: subject = user id, client_id = the panel, roles. Machine clients: subject ==
    client_id, roles = [], scope = their scopes.
    """
    import time
    import uuid

    from joserfc import jwt
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(signing_jwks)
    kid = signing_jwks["keys"][0]["kid"]
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": scope,
        "roles": roles if roles is not None else ([] if subject == client_id else ["user"]),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, keys)
