"""OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662),
JWKS, and authorization server metadata (RFC 8414).

These routes are public by protocol: callers authenticate as OAuth clients inside the request
(RFC 6749 §2.3), not with a bearer token. Errors use the RFC 6749 §5.2 JSON format
({"error", "error_description"}), not the Berth error shape, and are *returned*, not raised,
so the request session commits what the failure must leave behind (login events, a
reuse-detected revocation).
"""

import asyncio
from functools import lru_cache
from typing import Any

from authlib.oauth2.rfc6749.errors import (
    InvalidRequestError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi import Request
from fastapi.responses import JSONResponse
from loguru import logger

from berth_auth.clients.service import authenticate_client
from berth_auth.deps import SettingsDep, client_meta
from berth_auth.oauth.forms import client_credentials, parse_form, read_form
from berth_auth.oauth.schemas import (
    ClientCredentialsForm,
    IntrospectionResponse,
    JWKSResponse,
    OAuthErrorBody,
    PasswordGrantForm,
    RefreshGrantForm,
    ServerMetadata,
    TokenHintDoc,
    TokenHintForm,
    TokenRequestDoc,
    TokenResponse,
    form_body_doc,
)
from berth_auth.oauth.service import IssuedTokens, TokenService
from berth_auth.scopes import SCOPE_CATALOG
from berth_auth.throttle.service import backstop_delay
from berth_auth.tokens import SigningKeys
from berth_common.db import SessionDep
from berth_common.routing import public_router

router = public_router(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_TYPES = ("password", "refresh_token", "client_credentials")
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "invalid_request, invalid_grant, ..."},
    401: {"model": OAuthErrorBody, "description": "invalid_client"},
}


def oauth_error(exc: OAuth2Error) -> JSONResponse:
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return JSONResponse(body, status_code=exc.status_code or 400, headers=headers)


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses={
        **_OAUTH_ERRORS,
        429: {"model": OAuthErrorBody, "description": "rate_limited (Retry-After)"},
    },
    openapi_extra=form_body_doc(TokenRequestDoc),
    summary="Issue tokens (password, refresh_token, client_credentials)",
)
async def token(request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    try:
        form = await read_form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequestError(description="Missing parameter: grant_type")
        if grant_type not in GRANT_TYPES:
            unsupported = UnsupportedGrantTypeError(grant_type)
            unsupported.description = f"Supported grant types: {', '.join(GRANT_TYPES)}"
            raise unsupported
        username = form.get("username")
        if grant_type == "password" and isinstance(username, str) and username:
            # before the request's session takes a connection: the wait holds none
            delay = await backstop_delay(request.app.state.db.sessionmaker, settings, username)
            if delay:
                await asyncio.sleep(delay)
        client = await authenticate_client(session, client_credentials(request, form))
        service = TokenService(session, settings)
        issued: IssuedTokens
        if grant_type == "password":
            issued = await service.password_grant(
                client, parse_form(PasswordGrantForm, form), client_meta(request)
            )
        elif grant_type == "refresh_token":
            issued = await service.refresh_grant(client, parse_form(RefreshGrantForm, form))
        else:
            issued = await service.client_credentials_grant(
                client, parse_form(ClientCredentialsForm, form)
            )
    except OAuth2Error as exc:
        return oauth_error(exc)
    return JSONResponse(issued.as_body(), headers=NO_STORE)


@router.post(
    "/oauth/revoke",
    responses=_OAUTH_ERRORS,
    openapi_extra=form_body_doc(TokenHintDoc),
    summary="Revoke a refresh token and its session (RFC 7009)",
)
async def revoke(request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    try:
        form = await read_form(request)
        client = await authenticate_client(session, client_credentials(request, form))
        body = parse_form(TokenHintForm, form)
        await TokenService(session, settings).revoke(client, body.token)
    except OAuth2Error as exc:
        return oauth_error(exc)
    return JSONResponse({}, headers=NO_STORE)


@router.post(
    "/oauth/introspect",
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses={
        **_OAUTH_ERRORS,
        403: {"model": OAuthErrorBody, "description": "insufficient_scope"},
    },
    openapi_extra=form_body_doc(TokenHintDoc),
    summary="Introspect a token (RFC 7662; machine clients with auth:introspect)",
)
async def introspect(request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    try:
        form = await read_form(request)
        client = await authenticate_client(session, client_credentials(request, form))
        body = parse_form(TokenHintForm, form)
        result = await TokenService(session, settings).introspect(
            client, body.token, body.token_type_hint
        )
    except OAuth2Error as exc:
        return oauth_error(exc)
    return JSONResponse(result, headers=NO_STORE)


@router.get("/.well-known/jwks.json", response_model=JWKSResponse, summary="Public signing keys")
async def jwks(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(
        SigningKeys.from_settings(settings).public_jwks,
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/.well-known/oauth-authorization-server",
    response_model=ServerMetadata,
    summary="Authorization server metadata (RFC 8414)",
)
async def server_metadata(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(
        _metadata(settings.issuer), headers={"Cache-Control": "public, max-age=300"}
    )


@lru_cache(maxsize=8)
def _metadata(issuer: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": list(GRANT_TYPES),
        # no authorization endpoint: no redirect-based flows
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
        "scopes_supported": sorted(SCOPE_CATALOG),
        "service_documentation": f"{issuer}/api/auth/docs",
    }
    metadata = AuthorizationServerMetadata(data)
    # Authlib reads an empty response_types_supported as missing; RFC 8414 only requires the
    # member, and with no authorization endpoint the honest value is the empty list.
    for key in metadata.REGISTRY_KEYS:
        if key == "response_types_supported":
            continue
        try:
            object.__getattribute__(metadata, f"validate_{key}")()
        except ValueError as exc:
            # e.g. a plain-http BERTH_PUBLIC_URL outside localhost: serve, but say so loudly
            logger.warning("authorization server metadata is not RFC 8414 clean: {}", exc)
    return data
