"""`/verify`: Traefik's forwardAuth endpoint.

Traefik calls it (GET) for every request on a protected router, describing the original
request in X-Forwarded-Method / -Uri / -For and passing Authorization, Cookie, Origin,
Sec-Fetch-Site and Access-Control-Request-Method through. 200 lets the request on with the
identity headers; any other status is returned to the client as is.

This is the hot path of the platform: VerifyEdge, the outermost layer of the app's middleware
stack, answers it through the request context (request id, metrics) and VerifyFirst only,
without the framework's layers (server errors, telemetry, body limit, exceptions, routing); the
route stays for what it does not take (another method: 405).
"""

from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from berth_common.app import RequestContextMiddleware
from berth_common.client_ip import client_ip
from berth_common.config import origin_of
from berth_common.errors import BerthError, error_body
from berth_common.security import token_from_request
from berth_gateway.policy import InvalidPath, LoginRequired
from berth_gateway.service import ForwardedRequest, Gatekeeper

VERIFY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def forwarded_request(request: Request) -> ForwardedRequest:
    headers = request.headers
    uri = headers.get("x-forwarded-uri")
    if not uri:
        raise InvalidPath("X-Forwarded-Uri is missing: /verify answers Traefik's forwardAuth")
    method = (headers.get("x-forwarded-method") or request.method).upper()
    # the rate limiter keys anonymous callers by address: one shared bucket when there is none
    ip = client_ip(request, request.app.state.settings.trusted_proxy_hops) or "unknown"
    if method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers:
        return ForwardedRequest(method, uri, ip, None, preflight=True)
    try:
        token = token_from_request(request, request.app.state.access_cookie)
    except BerthError as exc:
        return ForwardedRequest(method, uri, ip, None, credential_error=exc)
    return ForwardedRequest(
        method,
        uri,
        ip,
        token,
        from_cookie=token is not None and "authorization" not in headers,
        origin=headers.get("origin"),
        fetch_site=headers.get("sec-fetch-site"),
    )


SIGN_IN_PATH = "/login"


def _local(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def platform_origin(request: Request) -> str:
    """The platform origin the browser is on (the admin host's own, when it is that one): the
    session cookies are host-only, so signing in must happen on the same host."""
    headers = request.headers
    proto, host = headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
    if proto and host:
        origin = origin_of(f"{proto}://{host}")
        if origin in request.app.state.gatekeeper.origins:
            return origin
    return request.app.state.settings.public_url.rstrip("/")


def sign_in_response(request: Request, forwarded: ForwardedRequest, exc: LoginRequired) -> Response:
    """A browser page without a usable session: navigations are redirected to sign in (which
    renews an expired session from the refresh cookie and comes straight back); htmx requests
    get 401 with HX-Redirect, so the whole page goes there instead of a fragment."""
    if request.headers.get("hx-request") == "true":
        page = _local(request.headers.get("hx-current-url") or forwarded.uri)
        target = f"{SIGN_IN_PATH}?{urlencode({'next': page})}"
        body = error_body(exc.code, exc.message)
        return JSONResponse(body, status_code=401, headers={**exc.headers, "HX-Redirect": target})
    if forwarded.method in ("GET", "HEAD"):
        # absolute: Traefik resolves a relative Location against the gateway's own address
        base = platform_origin(request)
        target = f"{base}{SIGN_IN_PATH}?{urlencode({'next': _local(forwarded.uri)})}"
        return Response(status_code=302, headers={"Location": target, "Cache-Control": "no-store"})
    return JSONResponse(error_body(exc.code, exc.message), status_code=401, headers=exc.headers)


async def verify(request: Request) -> Response:
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    forwarded = forwarded_request(request)
    try:
        identity = await gatekeeper.admit(forwarded)
    except LoginRequired as exc:
        return sign_in_response(request, forwarded, exc)
    response = Response(status_code=200)
    if identity is not None:
        response.raw_headers.extend(identity.headers)
    return response


class NamedRoute(Route):
    """A plain route that puts itself in the scope, as FastAPI's routes do, so the access log
    and the metrics label requests with its path instead of "unmatched"."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


# main.py puts it first in the app's routes: no other route is tried before it
verify_route = NamedRoute("/verify", verify, methods=VERIFY_METHODS, include_in_schema=False)


class VerifyFirst:
    """ASGI middleware: answers `verify_route` itself. A failure goes to the app's exception
    handler for its type (BerthError: the common JSON error), so the answers are the route's,
    without the layers between."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.methods = frozenset(verify_route.methods or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != verify_route.path
            or scope["method"] not in self.methods
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = verify_route  # for the access log and the metrics
        request = Request(scope, receive)
        try:
            response = await verify(request)
        except Exception as exc:
            handler = next(
                (
                    request.app.exception_handlers[kind]
                    for kind in type(exc).__mro__
                    if kind in request.app.exception_handlers
                ),
                None,
            )
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


class VerifyEdge:
    """Wraps the app's whole middleware stack (main.py builds it so): `verify_route` goes
    through the request context (request id, metrics, as every request) and VerifyFirst alone;
    the layers between (Starlette's server-error, FastAPI's telemetry and body limit) cost about
    a sixth of the gateway's CPU per forwardAuth call and do nothing for it. Other requests go
    to the stack, which has its own request context."""

    def __init__(self, stack: ASGIApp, *, service: str, quiet_paths: frozenset[str]) -> None:
        self.stack = stack
        self.verify = RequestContextMiddleware(
            VerifyFirst(stack), service=service, quiet_paths=quiet_paths
        )
        self.methods = frozenset(verify_route.methods or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == verify_route.path
            and scope["method"] in self.methods
        ):
            await self.verify(scope, receive, send)
        else:
            await self.stack(scope, receive, send)


NO_APP_PAGE = (
    b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    b"<title>No app here</title></head>\n<body><h1>No app here</h1>"
    b"<p>Nothing is running at this address: the app does not exist or is stopped.</p>"
    b"</body></html>\n"
)
NO_APP_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def no_app(request: Request) -> Response:
    """What an apps-domain host without a running app gets (Traefik's apps-no-app router):
    a small static 404 page, never a platform page and never a cookie."""
    return Response(
        NO_APP_PAGE, status_code=404, media_type="text/html; charset=utf-8", headers=NO_APP_HEADERS
    )


NO_APP_PATH = "/edge/no-app"
no_app_route = NamedRoute(NO_APP_PATH, no_app, methods=VERIFY_METHODS, include_in_schema=False)
