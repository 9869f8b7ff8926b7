"""The OAuth 2.0 authorization server's domain logic: grants, revocation, introspection.

Why not Authlib's ``AuthorizationServer`` and grant classes: they are synchronous and built
around a framework adapter (Flask/Django) that owns the request and calls ``save_token`` and
``query_client`` hooks. Berth is async FastAPI with transactions owned at the edge, and the
rules that matter most here (reuse detection that revokes a whole family and must stay
committed, a row lock that lets one of two racing refreshes win, brute-force counters read
from login history) do not fit those hooks without blocking the event loop or hiding commits.
So this module is a small async service over the DAO, and Authlib supplies the RFC-level
parts: the RFC 6749 §5.2 error types (``InvalidGrantError`` ... with their status codes and
``no-store`` headers), RFC 8414 metadata validation, and the RFC 7009 / 7662 semantics
(unknown tokens revoke "successfully", anything invalid introspects as ``{"active": false}``).
JWTs and JWKs are joserfc (see ``berth_auth.tokens``).

Transactions: every method only flushes. Errors are raised *after* whatever must be kept was
flushed (login events, a reuse-detected revocation), and the API returns them as responses
instead of letting them escape the request, so the session commits them.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.clients.dao import OAuthClientDAO
from berth_auth.config import AuthSettings
from berth_auth.dao import GUESS_FAILURE, LoginEventDAO, RefreshFamilyDAO, UserDAO
from berth_auth.deps import ClientMeta
from berth_auth.enums import ClientKind
from berth_auth.models import OAuthClient, RefreshTokenFamily, User
from berth_auth.oauth.dao import RefreshTokenDAO
from berth_auth.oauth.schemas import ClientCredentialsForm, PasswordGrantForm, RefreshGrantForm
from berth_auth.passwords import (
    dummy_verify,
    generate_token,
    hash_password,
    hmac_digest,
    needs_rehash,
    verify_password,
)
from berth_auth.revocations import service as revocations
from berth_auth.scopes import INTROSPECT_SCOPE, format_scope, parse_scope
from berth_auth.throttle.service import LoginThrottle, login_email
from berth_auth.tokens import decode_access_token, mint_access_token

BAD_CREDENTIALS = "Invalid email or password"
BAD_REFRESH = "Invalid refresh token"


class InsufficientScope(OAuth2Error):
    """The authenticated client lacks the scope this endpoint needs (RFC 6750 §3.1)."""

    error = "insufficient_scope"
    status_code = 403


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def _now() -> datetime:
    return datetime.now(UTC)


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class TokenService:
    def __init__(self, session: AsyncSession, settings: AuthSettings):
        self.session = session
        self.settings = settings
        self.secret = settings.secret_key.get_secret_value()
        self.users = UserDAO(session)
        self.families = RefreshFamilyDAO(session)
        self.tokens = RefreshTokenDAO(session)
        self.events = LoginEventDAO(session)

    # --- grants -------------------------------------------------------------------------

    async def password_grant(
        self, client: OAuthClient, form: PasswordGrantForm, meta: ClientMeta
    ) -> IssuedTokens:
        if client.kind != ClientKind.FIRST_PARTY or "password" not in client.grant_types:
            raise UnauthorizedClientError(description="This client may not use the password grant")
        scope = _granted_scope(client, form.scope, default=[])
        email = login_email(form.username)

        throttle = LoginThrottle(self.session, self.settings)
        await throttle.admit(email, meta)
        user = await self.users.get_by_email(email)
        if user is None:
            await asyncio.to_thread(dummy_verify, form.password)  # same cost as a real check
            raise await self._login_failed(email, meta, None, GUESS_FAILURE, BAD_CREDENTIALS)
        if not await asyncio.to_thread(verify_password, user.password_hash, form.password):
            raise await self._login_failed(email, meta, user, GUESS_FAILURE, BAD_CREDENTIALS)
        await throttle.passed(email, meta)
        if needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(hash_password, form.password)
        # only now, with the password proven, may the account's state be revealed
        if user.email_verified_at is None:
            raise await self._login_failed(
                email, meta, user, "email_not_verified", "email not verified"
            )
        if user.is_blocked:
            raise await self._login_failed(email, meta, user, "blocked", "account is blocked")

        now = _now()
        family = await self.families.create(
            user_id=user.id,
            client_id=client.client_id,
            ip=meta.ip,
            user_agent=meta.user_agent,
            expires_at=now + timedelta(days=self.settings.refresh_token_expire_days),
            last_used_at=now,
        )
        refresh = await self._issue_refresh_token(family)
        await self.events.record(
            email=email,
            success=True,
            reason=None,
            user_id=user.id,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        logger.bind(user_id=str(user.id)).info("login succeeded, session {}", family.id)
        return self._person_tokens(user, client, family, scope, refresh)

    async def refresh_grant(self, client: OAuthClient, form: RefreshGrantForm) -> IssuedTokens:
        if "refresh_token" not in client.grant_types:
            raise UnauthorizedClientError(description="This client may not refresh tokens")
        scope = _granted_scope(client, form.scope, default=[])
        token_hash = hmac_digest(self.secret, form.refresh_token)
        found = await self.tokens.get_by_hash(token_hash)
        if found is None:
            raise InvalidGrantError(description=BAD_REFRESH)
        family = await self.families.get_for_update(found.family_id)
        token = await self.tokens.get_by_hash(token_hash, fresh=True)
        if family is None or token is None or family.client_id != client.client_id:
            raise InvalidGrantError(description=BAD_REFRESH)
        now = _now()
        if token.used_at is not None:
            if family.revoked_at is None:
                await self.families.revoke(family, reason="reuse_detected", at=now)
                await revocations.sessions_revoked(self.session, self.settings, [family.id], now)
                logger.warning("refresh token reuse detected: session {} revoked", family.id)
            raise InvalidGrantError(description="refresh token reuse detected")
        if family.revoked_at is not None:
            raise InvalidGrantError(description="session has been revoked")
        if now >= family.expires_at or now >= token.expires_at:
            raise InvalidGrantError(description="refresh token expired")
        user = await self.users.get(family.user_id)
        if user is None or user.is_blocked:
            raise InvalidGrantError(description=BAD_REFRESH)
        if not await self.tokens.mark_used(token, now):
            raise InvalidGrantError(description=BAD_REFRESH)
        family.last_used_at = now
        refresh = await self._issue_refresh_token(family)
        return self._person_tokens(user, client, family, scope, refresh)

    async def client_credentials_grant(
        self, client: OAuthClient, form: ClientCredentialsForm
    ) -> IssuedTokens:
        if client.kind != ClientKind.MACHINE or "client_credentials" not in client.grant_types:
            raise UnauthorizedClientError(
                description="This client may not use the client_credentials grant"
            )
        scope = _granted_scope(client, form.scope, default=client.scopes)
        client.last_used_at = _now()
        await self.session.flush()
        access = mint_access_token(
            self.settings,
            subject=client.client_id,
            client_id=client.client_id,
            scope=scope,
            roles=[],
        )
        return IssuedTokens(access.token, access.expires_in, scope)

    # --- revocation and introspection -----------------------------------------------------

    async def revoke(self, client: OAuthClient, token: str) -> None:
        """RFC 7009: a refresh token ends its whole session, and the session's access tokens
        stop working everywhere within seconds (berth_auth.revocations); unknown tokens are
        answered with success too, so nothing is revealed."""
        found = await self.tokens.get_by_hash(hmac_digest(self.secret, token))
        if found is None:
            return
        family = await self.families.get_for_update(found.family_id)
        if family is None or family.client_id != client.client_id:
            return  # not this client's token: refuse silently, as for unknown tokens
        if family.revoked_at is None:
            now = _now()
            await self.families.revoke(family, reason="revoked", at=now)
            await revocations.sessions_revoked(self.session, self.settings, [family.id], now)
        logger.info("session {} revoked by its client", family.id)

    async def introspect(self, caller: OAuthClient, token: str, hint: str | None) -> dict[str, Any]:
        if caller.kind != ClientKind.MACHINE or INTROSPECT_SCOPE not in caller.scopes:
            raise InsufficientScope(description=f"Requires scope {INTROSPECT_SCOPE}")
        caller.last_used_at = _now()
        await self.session.flush()
        lookups = [self._introspect_access, self._introspect_refresh]
        if hint == "refresh_token":
            lookups.reverse()
        for lookup in lookups:
            result = await lookup(token)
            if result is not None:
                return result
        return {"active": False}

    async def _introspect_access(self, token: str) -> dict[str, Any] | None:
        """None if this is not one of our access tokens; {"active": False} if it no longer is."""
        if token.count(".") != 2:
            return None
        claims = decode_access_token(self.settings, token)
        if claims is None:
            return None
        inactive = {"active": False}
        if claims["sub"] == claims["client_id"]:
            client = await OAuthClientDAO(self.session).get_by_client_id(claims["client_id"])
            if client is None or client.revoked_at is not None:
                return inactive
        else:
            user_id = _as_uuid(claims["sub"])
            user = await self.users.get(user_id) if user_id else None
            if user is None or user.is_blocked:
                return inactive
            family_id = _as_uuid(claims.get("sid"))
            family = await self.families.get(family_id) if family_id else None
            if family is None or family.revoked_at is not None or family.expires_at <= _now():
                return inactive
        keys = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "roles", "sid")
        return {
            "active": True,
            "token_type": "Bearer",
            **{k: claims[k] for k in keys if k in claims},
        }

    async def _introspect_refresh(self, token: str) -> dict[str, Any] | None:
        if len(token) > 512:
            return None
        found = await self.tokens.get_by_hash(hmac_digest(self.secret, token))
        if found is None:
            return None
        family = await self.families.get(found.family_id)
        now = _now()
        if (
            family is None
            or found.used_at is not None
            or family.revoked_at is not None
            or min(found.expires_at, family.expires_at) <= now
        ):
            return {"active": False}
        user = await self.users.get(family.user_id)
        if user is None or user.is_blocked:
            return {"active": False}
        return {
            "active": True,
            "client_id": family.client_id,
            "sub": str(user.id),
            "iss": self.settings.issuer,
            "exp": int(min(found.expires_at, family.expires_at).timestamp()),
            "iat": int(found.created_at.timestamp()),
            "sid": str(family.id),
            "scope": "",
        }

    # --- helpers ------------------------------------------------------------------------

    async def _login_failed(
        self, email: str, meta: ClientMeta, user: User | None, reason: str, description: str
    ) -> InvalidGrantError:
        """Record the failed attempt (committed with the error response); build the error."""
        await self.events.record(
            email=email,
            success=False,
            reason=reason,
            user_id=user.id if user else None,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        return InvalidGrantError(description=description)

    async def _issue_refresh_token(self, family: RefreshTokenFamily) -> str:
        plain = generate_token(32)
        await self.tokens.create(
            family_id=family.id,
            token_hash=hmac_digest(self.secret, plain),
            expires_at=family.expires_at,
        )
        return plain

    def _person_tokens(
        self,
        user: User,
        client: OAuthClient,
        family: RefreshTokenFamily,
        scope: str,
        refresh: str,
    ) -> IssuedTokens:
        access = mint_access_token(
            self.settings,
            subject=str(user.id),
            client_id=client.client_id,
            scope=scope,
            roles=list(user.roles),
            session_id=str(family.id),
            issued_at=revocations.issued_at(user),
        )
        return IssuedTokens(access.token, access.expires_in, scope, refresh)


def _granted_scope(client: OAuthClient, requested: str | None, *, default: list[str]) -> str:
    """RFC 6749 §3.3: what was asked for, if the client may have all of it; else invalid_scope."""
    asked = parse_scope(requested)
    if not asked:
        return format_scope(default)
    excess = set(asked) - set(client.scopes)
    if excess:
        raise InvalidScopeError(description="The requested scope is not allowed for this client")
    return format_scope(asked)
