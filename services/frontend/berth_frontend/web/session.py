"""The browser's session: access and refresh tokens in HttpOnly cookies, refreshed transparently.

The access token is verified here again (no trust in the network). When it is missing, expired
or about to expire and a refresh token is present, the frontend refreshes it with auth and sets
the new cookies on whatever response the request produces (CookieMiddleware).

Auth treats a second use of a refresh token as theft and revokes the whole session, while a
browser easily sends several requests with the same cookies at once (lazy partials, a reload
racing a click). So refreshes are coordinated per refresh token: one call to auth at a time,
and its result is reused for a short while by the requests that carried the same old token.
"""

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth_common.client_ip import client_ip
from berth_common.errors import Unauthorized
from berth_common.security import Principal, TokenVerifier
from berth_frontend.config import FrontendSettings
from berth_frontend.web import oauth_service
from berth_frontend.web.backends import ApiError, Backends, Caller, ServiceDown
from berth_frontend.web.oauth_service import TokenPair

REFRESH_COOKIE = "berth_refresh"
COOKIE_STATE = "berth_cookies"
MAX_USER_AGENT = 512


@dataclass(frozen=True)
class Viewer:
    """The signed-in person behind a request."""

    principal: Principal
    caller: Caller

    @property
    def user_id(self) -> str:
        return self.principal.subject

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def is_oncall(self) -> bool:
        """May see the on-call pages (/ops): the oncall role, or an admin."""
        return self.principal.has_role("oncall", "admin")

    @property
    def is_support(self) -> bool:
        """May work the support desk: support staff, and admins."""
        return self.principal.has_role("support", "admin")


def caller_for(request: Request, token: str | None = None) -> Caller:
    agent = request.headers.get("user-agent")
    if agent:
        agent = "".join(ch for ch in agent if ch.isprintable())[:MAX_USER_AGENT] or None
    hops = request.app.state.settings.trusted_proxy_hops
    return Caller(
        token=token, client_ip=client_ip(request, hops), user_agent=agent, proxy_hops=hops
    )


class RefreshCoordinator:
    """One refresh per refresh token at a time; its outcome is shared for `reuse_seconds`."""

    def __init__(self, reuse_seconds: float, max_entries: int = 10_000):
        self.reuse_seconds = reuse_seconds
        self.max_entries = max_entries
        self._inflight: dict[str, asyncio.Future[TokenPair]] = {}
        self._recent: dict[str, tuple[float, TokenPair | ApiError]] = {}

    @staticmethod
    def _key(refresh_token: str) -> str:
        return hashlib.sha256(refresh_token.encode()).hexdigest()

    def _remember(self, key: str, outcome: TokenPair | ApiError) -> None:
        now = time.monotonic()
        for old in [k for k, (until, _) in self._recent.items() if until <= now]:
            del self._recent[old]
        while len(self._recent) >= self.max_entries:
            del self._recent[next(iter(self._recent))]
        self._recent[key] = (now + self.reuse_seconds, outcome)

    async def run(
        self, refresh_token: str, refresh: Callable[[], Awaitable[TokenPair]]
    ) -> TokenPair:
        key = self._key(refresh_token)
        recent = self._recent.get(key)
        if recent is not None and recent[0] > time.monotonic():
            if isinstance(recent[1], ApiError):
                raise recent[1]
            return recent[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TokenPair] = asyncio.get_running_loop().create_future()
        # nobody else may be waiting: do not let an unread failure warn at garbage collection
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._inflight[key] = future
        try:
            pair = await refresh()
        except ApiError as exc:
            self._remember(key, exc)  # a dead refresh token stays dead: do not ask again
            future.set_exception(exc)
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            self._remember(key, pair)
            future.set_result(pair)
            return pair
        finally:
            self._inflight.pop(key, None)


class Sessions:
    """Login, refresh, logout against auth's OAuth endpoints, and the per-request viewer."""

    def __init__(
        self, settings: FrontendSettings, backends: Backends, verifier: TokenVerifier
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.verifier = verifier
        self.coordinator = RefreshCoordinator(settings.refresh_reuse_seconds)

    async def _token(self, grant: dict[str, str], caller: Caller) -> TokenPair:
        return await oauth_service.issue_tokens(
            self.backends, caller, client_id=self.settings.panel_client_id, grant=grant
        )

    async def login(self, email: str, password: str, caller: Caller) -> TokenPair:
        return await self._token(
            {"grant_type": "password", "username": email, "password": password}, caller
        )

    async def refresh(self, refresh_token: str, caller: Caller) -> TokenPair:
        return await self.coordinator.run(
            refresh_token,
            lambda: self._token(
                {"grant_type": "refresh_token", "refresh_token": refresh_token}, caller
            ),
        )

    async def revoke(self, refresh_token: str, caller: Caller) -> None:
        await oauth_service.revoke_token(
            self.backends,
            caller,
            client_id=self.settings.panel_client_id,
            refresh_token=refresh_token,
        )

    async def _verify(self, token: str | None) -> Principal | None:
        if not token:
            return None
        try:
            principal = await self.verifier.verify(token)
        except Unauthorized:
            return None
        return principal if principal.kind == "user" else None

    async def viewer(self, request: Request) -> Viewer | None:
        """The signed-in person, refreshing the tokens when needed; None when signed out.

        Raises ServiceDown when the session cannot be judged (auth unreachable and the
        access token unusable).
        """
        cached = getattr(request.state, "viewer", False)
        if cached is not False:
            return cached
        access = request.cookies.get(self.settings.access_cookie)
        refresh_token = request.cookies.get(self.settings.cookie_name(REFRESH_COOKIE))
        principal = await self._verify(access)
        margin = self.settings.refresh_margin_seconds
        fresh = principal is not None and (principal.expires_at or 0) - time.time() > margin
        if not fresh and refresh_token:
            try:
                pair = await self.refresh(refresh_token, caller_for(request))
            except ApiError:
                clear_session_cookies(request)
                if principal is None:
                    request.state.viewer = None
                    return None
            except ServiceDown:
                if principal is None:
                    raise
            else:
                renewed = await self._verify(pair.access_token)
                if renewed is not None:
                    set_session_cookies(request, pair, self.settings)
                    principal, access = renewed, pair.access_token
        viewer = Viewer(principal, caller_for(request, access)) if principal else None
        request.state.viewer = viewer
        return viewer


def _cookie_headers(build: Callable[[Response], None]) -> list[tuple[bytes, bytes]]:
    response = Response()
    build(response)
    return [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]


def _queue_cookies(request: Request, headers: list[tuple[bytes, bytes]]) -> None:
    pending = getattr(request.state, COOKIE_STATE, None) or []
    request.state.berth_cookies = [*pending, *headers]


def set_session_cookies(request: Request, pair: TokenPair, settings: FrontendSettings) -> None:
    def build(response: Response) -> None:
        # host-only (no Domain), Path=/: `__Host-` prefixed and Secure over https
        common = {"httponly": True, "samesite": "lax", "secure": settings.secure_cookies}
        # the browser drops the access cookie when the token expires; /login then refreshes
        response.set_cookie(
            settings.access_cookie, pair.access_token, max_age=pair.expires_in, **common
        )
        if pair.refresh_token:
            response.set_cookie(
                settings.cookie_name(REFRESH_COOKIE),
                pair.refresh_token,
                max_age=settings.refresh_cookie_days * 86400,
                **common,
            )

    _queue_cookies(request, _cookie_headers(build))


def clear_session_cookies(request: Request) -> None:
    settings: FrontendSettings = request.app.state.settings

    def build(response: Response) -> None:
        for name in (settings.access_cookie, settings.cookie_name(REFRESH_COOKIE)):
            response.delete_cookie(
                name, httponly=True, samesite="lax", secure=settings.secure_cookies
            )

    _queue_cookies(request, _cookie_headers(build))


class CookieMiddleware:
    """Adds the cookies a request decided on (login, refresh, logout) to its response,
    whichever handler produced it: a page, a redirect or an error page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # per-request state (the viewer, the cookies to set) must never outlive the request:
        # servers copy the lifespan state into each request, but not every harness does
        state = scope["state"] = dict(scope.get("state") or {})

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookies = state.get(COOKIE_STATE)
                if cookies:
                    message["headers"] = [*message.get("headers", []), *cookies]
            await send(message)

        await self.app(scope, receive, send_with_cookies)
