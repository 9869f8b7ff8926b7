"""Access-token verification against the auth service's JWKS (RFC 9068 profile).

Used by the gateway (forwardAuth) and by every service again (no trust in the network).
Keys are cached; an unknown `kid` triggers one refetch (key rotation), at most every few seconds.
A verifier with a denylist (berth_common.revocation) also refuses revoked tokens. A verifier
with a cache remembers each verified token briefly (never past its `exp`), so repeat calls skip
the signature check; the denylist is still consulted on every call, cached or not.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

import httpx
from fastapi import Depends, Request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from loguru import logger

from berth_common.config import ACCESS_COOKIE
from berth_common.context import user_id_var
from berth_common.errors import Forbidden, ServiceUnavailable, Unauthorized
from berth_common.revocation import Denylist

ALLOWED_ALGORITHMS = ["ES256"]
ROLES = ("user", "support", "oncall", "admin")
T = TypeVar("T")


class PrincipalKind(StrEnum):
    USER = "user"  # a person, signed in through the panel client
    CLIENT = "client"  # another team's machine client (client credentials)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (kind USER) or another team's machine client (kind CLIENT)."""

    subject: str
    kind: PrincipalKind
    client_id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    expires_at: int | None = None
    session_id: str | None = None  # claim `sid`: the refresh family (people only)
    issued_at: int = 0  # claim `iat`
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class JWKSCache:
    def __init__(self, url: str, ttl_seconds: int = 300, min_refetch_seconds: float = 5.0):
        self.url = url
        self.ttl = ttl_seconds
        self.min_refetch = min_refetch_seconds
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = 0.0
        self._failed_at = -1e9
        self._lock = asyncio.Lock()

    def load(self, jwks: dict[str, Any]) -> None:
        self._keys = KeySet.import_key_set(jwks)
        self._kids = {k.get("kid") for k in jwks.get("keys", []) if k.get("kid")}
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            resp = await client.get(self.url)
            resp.raise_for_status()
            self.load(resp.json())
        logger.info("jwks loaded: {} key(s)", len(self._kids))

    async def key_set(self, kid: str | None) -> KeySet:
        age = time.monotonic() - self._fetched_at
        stale = self._keys is None or age > self.ttl
        unknown = kid is not None and kid not in self._kids and age > self.min_refetch
        if self._keys is None and time.monotonic() - self._failed_at < self.min_refetch:
            # auth is down and we have never had keys: fail fast instead of queueing fetches
            raise ServiceUnavailable("Token keys unavailable")
        if stale or unknown:
            async with self._lock:
                age = time.monotonic() - self._fetched_at
                if (
                    self._keys is None
                    or age > self.ttl
                    or (kid not in self._kids and age > self.min_refetch)
                ):
                    try:
                        await self._fetch()
                    except (httpx.HTTPError, ValueError) as exc:
                        self._failed_at = time.monotonic()
                        if self._keys is None:
                            raise ServiceUnavailable("Token keys unavailable") from exc
                        logger.warning("jwks refresh failed, keeping cached keys: {}", exc)
        assert self._keys is not None
        return self._keys


class RememberedTokens(Generic[T]):
    """What was learnt from verified tokens, kept for `seconds` but never past the token's own
    `exp`; at most `size` entries, the oldest makes room. Keyed by the exact token, so a token
    that differs in one character is a stranger. `seconds` 0: nothing is kept."""

    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[T, float]] = {}

    def get(self, token: str) -> T | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] > time.time():
            return entry[0]
        self._entries.pop(token, None)
        return None

    def put(self, token: str, value: T, expires_at: int | None) -> None:
        if self.seconds <= 0 or self.size <= 0:
            return
        now = time.time()
        until = min(now + self.seconds, float(expires_at if expires_at is not None else now))
        if token not in self._entries and len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)), None)
        self._entries[token] = (value, until)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class TokenVerifier:
    def __init__(
        self,
        jwks: JWKSCache,
        issuer: str,
        audience: str,
        leeway: int = 5,
        denylist: Denylist | None = None,
        cache_seconds: float = 0,
        cache_size: int = 10_000,
    ):
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.denylist = denylist
        self.verified: RememberedTokens[Principal] = RememberedTokens(cache_seconds, cache_size)
        self.registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            jti={"essential": True},
        )

    async def verify(self, token: str) -> Principal:
        cached = self.verified.get(token)
        if cached is not None:
            # remembered, but it may have been revoked since: the denylist has the say
            self.check_revoked(cached)
            return cached
        principal = await self._verify_signed(token)
        self.check_revoked(principal)
        self.verified.put(token, principal, principal.expires_at)
        return principal

    async def _verify_signed(self, token: str) -> Principal:
        """The token's principal after the signature and claims checks (not revocation)."""
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as exc:
            raise Unauthorized("Malformed access token") from exc
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise Unauthorized("Not an access token")
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthorized("Unsupported token algorithm")
        keys = await self.jwks.key_set(header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS)
            self.registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid or expired access token") from exc
        return principal_from_claims(decoded.claims)

    def check_revoked(self, principal: Principal) -> None:
        """TokenRevoked (401) if the session, client or user was revoked since it was issued;
        also for principals remembered from an earlier verification."""
        if self.denylist is not None:
            self.denylist.check(principal)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scopes = frozenset(str(claims.get("scope", "")).split())
    roles = claims.get("roles") or []
    if not isinstance(roles, list):
        raise Unauthorized("Invalid roles claim")
    is_client = claims.get("sub") == claims.get("client_id")
    kind = PrincipalKind.CLIENT if is_client else PrincipalKind.USER
    sid = claims.get("sid")
    return Principal(
        subject=str(claims["sub"]),
        kind=kind,
        client_id=str(claims["client_id"]),
        roles=frozenset(str(r) for r in roles),
        scopes=scopes,
        token_id=str(claims.get("jti")),
        expires_at=int(claims["exp"]),
        session_id=str(sid) if sid is not None else None,
        issued_at=int(claims.get("iat") or 0),
        claims=dict(claims),
    )


def token_from_request(request: Request, access_cookie: str | None = None) -> str | None:
    """The Bearer token, else the access cookie (named by the app's settings: `__Host-`
    prefixed when the platform is served over https)."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Use the Bearer scheme", error="invalid_request")
        return value.strip()
    if access_cookie is None:
        settings = getattr(request.app.state, "settings", None)
        access_cookie = settings.access_cookie if settings is not None else ACCESS_COOKIE
    return request.cookies.get(access_cookie)


# where a request's principal is kept once verified: every guard of the request reads it there
_PRINCIPAL = "berth.principal"


def guard(dependency: T) -> T:
    """Marks a dependency that authenticates the request (routing.ensure_guarded counts it)."""
    dependency.authenticates = True  # type: ignore[attr-defined]
    return dependency


def authenticates(dependency: Any) -> bool:
    return getattr(dependency, "authenticates", False)


# The guards below each take the request and call one another as plain functions: a chain of
# Depends is solved level by level on every request (and again for each route parameter that
# names it), which cost /me more than its own query.


async def optional_principal(request: Request) -> Principal | None:
    scope = request.scope
    if _PRINCIPAL in scope:
        return scope[_PRINCIPAL]
    token = token_from_request(request)
    principal = None
    if token:
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.verify(token)
        request.state.principal = principal
        user_id_var.set(principal.subject)
    scope[_PRINCIPAL] = principal
    return principal


@guard
async def current_principal(request: Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("Authentication required", error=None)
    return principal


@guard
async def current_user(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("This endpoint is for people, not machine clients")
    return principal


def user_id_of(principal: Principal) -> uuid.UUID:
    """The person's user id (the token's `sub`); Forbidden when the subject is not one."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Forbidden("This token's subject is not a Berth user") from None


@guard
async def current_user_id(request: Request) -> uuid.UUID:
    return user_id_of(await current_user(request))


def require_role(*roles: str):
    @guard
    async def dep(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has_role(*roles):
            raise Forbidden(f"Requires role: {' or '.join(roles)}")
        return principal

    return dep


def require_scope(scope: str):
    """Machine clients need the scope; people pass (their access is governed by roles)."""

    @guard
    async def dep(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.kind == PrincipalKind.CLIENT and not principal.has_scope(scope):
            raise Forbidden(f"Requires scope: {scope}", code="insufficient_scope")
        return principal

    return dep


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_user)]
# the calling person's user id: what they own (wallet, apps) is looked up by it
CurrentUserId = Annotated[uuid.UUID, Depends(current_user_id)]
AdminUser = Annotated[Principal, Depends(require_role("admin"))]
OncallUser = Annotated[Principal, Depends(require_role("oncall", "admin"))]
SupportUser = Annotated[Principal, Depends(require_role("support", "admin"))]
