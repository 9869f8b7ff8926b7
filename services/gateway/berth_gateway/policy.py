"""Route policy: which principals may call which paths, as an ordered table of data.

The first rule whose pattern matches the normalised path decides; a path no rule matches
needs an authenticated principal (deny by default). Patterns are '/'-separated segments:
a literal, `*` (any one segment), `{svc}` (any one segment, named: the service whose scopes a
machine client needs) and a trailing `**` (zero or more further segments). Matching ignores
case, so a differently-cased path can never dodge a stricter rule.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from berth_common.errors import BerthError, Forbidden, Unauthorized
from berth_common.security import Principal, PrincipalKind


class AccessKind(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    ROLE = "role"
    SCOPE = "scope"


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: where a cookie-authenticated unsafe request must come from a platform page (the frontend's
#: own pages check their CSRF token themselves)
CROSS_SITE_GUARDED = ("/api/", "/ops/")
_ENCODED_SEPARATORS = ("%2f", "%5c", "%00")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\;%]")
_SEGMENT = "[^/]+"


class InvalidPath(BerthError):
    status_code = 400
    code = "invalid_path"


class CrossSiteRefused(Forbidden):
    """A cookie-authenticated unsafe call to an API that did not come from a platform page."""

    code = "csrf_failed"


class LoginRequired(Unauthorized):
    """No usable token on a browser page route: answered with the way to the sign-in page."""

    code = "login_required"


@dataclass(frozen=True, slots=True)
class Access:
    kind: AccessKind
    roles: frozenset[str] = frozenset()
    scope: str = ""  # template for SCOPE: "{svc}" and "{action}" (read | write) are filled in
    login_page: bool = False  # a browser page: send the anonymous to sign in, not a bare 401

    def describe(self) -> str:
        if self.kind == AccessKind.ROLE:
            return f"role({' | '.join(sorted(self.roles))})"
        if self.kind == AccessKind.SCOPE:
            return f"scope({self.scope})"
        return self.kind.value


def any_role(*roles: str) -> Access:
    return Access(AccessKind.ROLE, roles=frozenset(roles))


def service_scope(template: str = "{svc}:{action}") -> Access:
    """People only need to be signed in; machine clients need the service's read/write scope."""
    return Access(AccessKind.SCOPE, scope=template)


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    access: Access
    methods: frozenset[str] | None = None  # None: every method

    def compile(self) -> re.Pattern[str]:
        if self.pattern == "/":
            return re.compile("/")  # the root page itself, not everything under it
        segments = self.pattern.strip("/").split("/") if self.pattern != "/" else []
        tail = "/?"
        if segments and segments[-1] == "**":
            segments.pop()
            tail = "(?:/.*)?"
        parts = []
        for segment in segments:
            if segment == "*":
                parts.append(_SEGMENT)
            elif segment == "{svc}":
                parts.append(f"(?P<svc>{_SEGMENT})")
            else:
                parts.append(re.escape(segment))
        body = "".join(f"/{part}" for part in parts)
        return re.compile(f"{body}{tail}" if body else "/.*", re.IGNORECASE)


ADMIN = any_role("admin")
ONCALL = any_role("oncall", "admin")
SUPPORT = any_role("support", "admin")
ANY_SIGNED_IN = Access(AccessKind.AUTHENTICATED)
OPEN = Access(AccessKind.PUBLIC)
SIGNED_IN_PAGE = Access(AccessKind.AUTHENTICATED, login_page=True)
ADMIN_PAGE = Access(AccessKind.ROLE, roles=frozenset({"admin"}), login_page=True)
SUPPORT_PAGE = Access(AccessKind.ROLE, roles=frozenset({"support", "admin"}), login_page=True)

ROUTE_RULES: tuple[Rule, ...] = (
    Rule("/health", OPEN),
    Rule("/.well-known/**", OPEN),
    # the OAuth endpoints authenticate their clients themselves
    Rule("/oauth/token", OPEN),
    Rule("/oauth/revoke", OPEN),
    Rule("/oauth/introspect", OPEN),
    Rule("/api/{svc}/docs/**", OPEN),
    Rule("/api/{svc}/openapi.json", OPEN),
    Rule("/api/auth/v1/register", OPEN),
    Rule("/api/auth/v1/verify-email", OPEN),
    Rule("/api/auth/v1/resend-code", OPEN),
    Rule("/api/auth/v1/password-reset/**", OPEN),
    # payment providers call billing's webhooks; the signature is their authentication
    Rule("/api/billing/v1/webhooks/*", OPEN, methods=frozenset({"POST"})),
    # forges post deploy's webhooks; the app's signing secret is their authentication
    Rule("/api/deploy/v1/hooks/*/*", OPEN, methods=frozenset({"POST"})),
    Rule("/api/billing/v1/plans", OPEN, methods=frozenset({"GET", "HEAD"})),  # the price list
    # users' public status pages: the page and the read behind it (only what the page shows)
    Rule("/api/monitoring/v1/public/status/*", OPEN, methods=frozenset({"GET", "HEAD"})),
    Rule("/status/**", OPEN, methods=frozenset({"GET", "HEAD"})),
    # a user's cron job or bot pushes its heartbeat; the secret token in the path is the key
    Rule("/api/monitoring/v1/heartbeat/*", OPEN, methods=frozenset({"GET", "POST"})),
    # `git push` to Berth (git's smart HTTP): the app's deploy token is the authentication,
    # checked by deploy (HTTP Basic), like a webhook's signature
    Rule("/git/**", OPEN, methods=frozenset({"GET", "HEAD", "POST"})),
    # the frontend's public pages; /logout works with an expired session (CSRF-checked there)
    Rule("/", OPEN),
    Rule("/login", OPEN),
    Rule("/logout", OPEN),
    Rule("/register", OPEN),
    Rule("/verify-email/**", OPEN),
    Rule("/forgot-password", OPEN),
    Rule("/reset-password", OPEN),
    Rule("/static/**", OPEN),
    Rule("/favicon.ico", OPEN),
    Rule("/panel/**", SIGNED_IN_PAGE),
    Rule("/partials/**", SIGNED_IN_PAGE),
    # VPSes: every admin route needs the admin role; a person reaches their own VPSes signed in
    # (deploy answers 404 for anyone else's), a machine client needs deploy:read / deploy:write
    Rule("/api/deploy/v1/admin/vps/**", ADMIN),
    # a VPS's browser console (a WebSocket upgrade): a signed-in person who also holds a
    # single-use console token; deploy checks the token, the person and the Origin itself and
    # refuses machine clients. Minting a token is an ordinary VPS call (below).
    Rule("/api/deploy/v1/vps/*/console", ANY_SIGNED_IN, methods=frozenset({"GET"})),
    Rule("/api/deploy/v1/vps/**", service_scope("deploy:{action}")),
    Rule("/api/*/v1/admin/**", ADMIN),
    # the support desk's queue and tools (tickets checks the role again)
    Rule("/api/tickets/v1/staff/**", SUPPORT),
    Rule("/api/chat/v1/staff/**", SUPPORT),  # chat's staff console (chat checks again)
    Rule("/admin/**", ADMIN_PAGE),  # the admin pages and /admin/partials/**
    Rule("/support/**", SUPPORT_PAGE),  # the support desk's pages and /support/partials/**
    Rule("/ops/**", ONCALL),
    Rule("/api/{svc}/**", service_scope()),
)
DEFAULT_ACCESS = ANY_SIGNED_IN


@dataclass(frozen=True, slots=True)
class RouteMatch:
    access: Access
    service: str  # "" when the rule names no service
    pattern: str  # the rule that decided, for logs and error details


class RoutePolicy:
    def __init__(self, rules: Sequence[Rule] = ROUTE_RULES, default: Access = DEFAULT_ACCESS):
        self.rules = tuple(rules)
        self._compiled = [(rule, rule.compile()) for rule in self.rules]
        self._default = RouteMatch(default, "", "(default)")
        # paths repeat a lot (same endpoints, same ids); the table never changes at runtime
        self._match_path = lru_cache(maxsize=8192)(self._match_uncached)

    def match(self, method: str, path: str) -> RouteMatch:
        """The decision for an already normalised path."""
        return self._match_path(method, path)

    def _match_uncached(self, method: str, path: str) -> RouteMatch:
        for rule, regex in self._compiled:
            if rule.methods is not None and method not in rule.methods:
                continue
            found = regex.fullmatch(path)
            if found is not None:
                service = (found.groupdict().get("svc") or "").lower()
                return RouteMatch(rule.access, service, rule.pattern)
        return self._default


def normalise_path(uri: str) -> str:
    """The path of a request URI, decoded once, or InvalidPath for anything ambiguous.

    Rejected rather than repaired: encoded '/', '\\' or NUL, what is still percent-encoded
    after one decoding, '.' and '..' segments, empty segments ('//'), backslashes,
    semicolons (path parameters) and control characters. A backend then sees the same path
    the policy judged.
    """
    path = uri.partition("?")[0].partition("#")[0]
    if not path.startswith("/"):
        raise InvalidPath("The request path must start with '/'")
    if "%" in path:
        lowered = path.lower()
        if any(encoded in lowered for encoded in _ENCODED_SEPARATORS):
            raise InvalidPath("Encoded slashes, backslashes and NUL are not allowed in paths")
        try:
            path = unquote_to_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPath("The request path is not valid UTF-8") from None
    if _UNSAFE_CHARS.search(path):
        raise InvalidPath("The request path contains a forbidden or double-encoded character")
    if "//" in path:
        raise InvalidPath("Empty path segments are not allowed")
    if "/." in path and any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidPath("Dot segments are not allowed in paths")
    return path


def authorize(match: RouteMatch, principal: Principal | None, method: str) -> None:
    """Raise Unauthorized (no principal where one is needed) or Forbidden (role / scope)."""
    access = match.access
    if access.kind == AccessKind.PUBLIC:
        return
    if principal is None:
        if access.login_page:
            raise LoginRequired("Please sign in", error="invalid_request")
        raise Unauthorized("Authentication required", error="invalid_request")
    if access.kind == AccessKind.ROLE and not principal.roles.intersection(access.roles):
        raise Forbidden(f"Requires role: {' or '.join(sorted(access.roles))}")
    if access.kind == AccessKind.SCOPE and principal.kind == PrincipalKind.CLIENT:
        action = "read" if method in READ_METHODS else "write"
        needed = access.scope.format(svc=match.service, action=action)
        if needed not in principal.scopes:
            raise Forbidden(
                f"Requires scope: {needed}",
                code="insufficient_scope",
                details={"required_scope": needed},
                headers={
                    "WWW-Authenticate": (
                        f'Bearer realm="berth", error="insufficient_scope", scope="{needed}"'
                    )
                },
            )


def cross_site_guarded(method: str, path: str) -> bool:
    return method not in READ_METHODS and (path.lower() + "/").startswith(CROSS_SITE_GUARDED)


def check_same_origin(origin: str | None, fetch_site: str | None, origins: frozenset[str]) -> None:
    """Browsers send Origin on every unsafe request (Sec-Fetch-Site too, in current ones): it
    must name a platform origin; without Origin, Sec-Fetch-Site must say same-origin; with
    neither the request is refused (a cookie is only ever sent by a browser)."""
    if origin is not None:
        if origin.strip().lower().rstrip("/") in origins:
            return
    elif fetch_site is not None and fetch_site.strip().lower() == "same-origin":
        return
    raise CrossSiteRefused(
        "Cross-site request refused: calls signed in with the session cookie must come from "
        "the panel (send a Bearer token from other clients)"
    )
