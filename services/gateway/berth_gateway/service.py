"""The edge decision for one forwarded request: path -> policy -> token -> rate limit -> access.

No HTTP framework types here: api.py turns Traefik's forwardAuth call into a ForwardedRequest
and the admitted Identity into response headers.
"""

import re
from dataclasses import dataclass

from berth_common.errors import BerthError, Unauthorized
from berth_common.security import Principal, RememberedTokens, TokenVerifier
from berth_gateway.policy import (
    AccessKind,
    LoginRequired,
    RoutePolicy,
    authorize,
    check_same_origin,
    cross_site_guarded,
    normalise_path,
)
from berth_gateway.ratelimit import RateLimiter

USER_ID_HEADER = "X-User-Id"
USER_KIND_HEADER = "X-User-Kind"
USER_ROLES_HEADER = "X-User-Roles"
USER_SCOPES_HEADER = "X-User-Scopes"
CLIENT_ID_HEADER = "X-Client-Id"
#: What the gateway asserts to upstreams; Traefik strips these from every incoming request.
IDENTITY_HEADERS = (
    USER_ID_HEADER,
    USER_KIND_HEADER,
    USER_ROLES_HEADER,
    USER_SCOPES_HEADER,
    CLIENT_ID_HEADER,
)
_PRINTABLE = re.compile(r"[\x20-\x7e]*")

RawHeaders = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    headers: RawHeaders  # the identity headers, encoded once per token


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    """What Traefik tells the gateway about the original request."""

    method: str
    uri: str
    client_ip: str
    token: str | None
    credential_error: BerthError | None = None  # e.g. an Authorization header of another scheme
    preflight: bool = False
    from_cookie: bool = False  # the token is the browser's session cookie, not a Bearer header
    origin: str | None = None
    fetch_site: str | None = None  # Sec-Fetch-Site


def identity_headers(principal: Principal) -> RawHeaders:
    values = (
        (USER_ID_HEADER, principal.subject),
        (USER_KIND_HEADER, principal.kind),
        (USER_ROLES_HEADER, ",".join(sorted(principal.roles))),
        (USER_SCOPES_HEADER, " ".join(sorted(principal.scopes))),
        (CLIENT_ID_HEADER, principal.client_id),
    )
    for _, value in values:
        if not _PRINTABLE.fullmatch(value):
            raise Unauthorized("Access token claims cannot be passed on")
    if any("," in role for role in principal.roles):
        raise Unauthorized("Access token roles are malformed")
    return tuple((name.lower().encode(), value.encode()) for name, value in values)


class VerifiedTokenCache:
    """Remembers verified tokens briefly so repeat calls skip the signature check and the
    header encoding (berth_common.security.RememberedTokens: successes only, never past the
    token's expiry). Revocation is checked on every call, cached or not."""

    def __init__(self, verifier: TokenVerifier, ttl_seconds: float, max_entries: int) -> None:
        self.verifier = verifier
        self._identities: RememberedTokens[Identity] = RememberedTokens(ttl_seconds, max_entries)

    async def identify(self, token: str) -> Identity:
        cached = self._identities.get(token)
        if cached is not None:
            # a remembered token may have been revoked since: the denylist has the say
            self.verifier.check_revoked(cached.principal)
            return cached
        principal = await self.verifier.verify(token)
        identity = Identity(principal, identity_headers(principal))
        self._identities.put(token, identity, principal.expires_at)
        return identity

    def clear(self) -> None:
        self._identities.clear()


class Gatekeeper:
    def __init__(
        self,
        policy: RoutePolicy,
        tokens: VerifiedTokenCache,
        limiter: RateLimiter | None,
        origins: frozenset[str] = frozenset(),
    ) -> None:
        self.policy = policy
        self.tokens = tokens
        self.limiter = limiter
        self.origins = origins  # the platform's own origins (cookie calls must come from one)

    async def admit(self, request: ForwardedRequest) -> Identity | None:
        """The caller's identity (None: anonymous) or a BerthError: 400, 401, 403, 429, 503.

        Every request is counted once: against its principal when the token is valid,
        otherwise against the client IP (so a flood of bad tokens is limited too).
        """
        path = normalise_path(request.uri)
        if request.preflight:
            # a CORS preflight carries no credentials; the service answers it
            await self._count(None, request.client_ip)
            return None
        match = self.policy.match(request.method, path)
        identity: Identity | None = None
        failure = request.credential_error
        if failure is None and request.token:
            try:
                identity = await self.tokens.identify(request.token)
            except BerthError as exc:
                failure = exc
        if match.access.kind == AccessKind.PUBLIC:
            failure = None  # a bad token on a public route: carry on as anonymous
        await self._count(identity.principal if identity else None, request.client_ip)
        if request.from_cookie and cross_site_guarded(request.method, path):
            check_same_origin(request.origin, request.fetch_site, self.origins)
        if failure is not None:
            if match.access.login_page and isinstance(failure, Unauthorized):
                # an expired session on a page: sign in again (the frontend refreshes it there)
                raise LoginRequired(failure.message) from failure
            raise failure
        authorize(match, identity.principal if identity else None, request.method)
        return identity

    async def _count(self, principal: Principal | None, client_ip: str) -> None:
        if self.limiter is not None:
            await self.limiter.hit(principal, client_ip)
