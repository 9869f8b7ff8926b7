"""Errors as pages: a full error page for navigations, a short message for htmx requests
(shown as a toast by berth.js), and the sign-in redirect when the session is gone."""

from urllib.parse import quote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from berth_common.errors import BerthError
from berth_frontend.web.backends import ApiError, ServiceDown
from berth_frontend.web.session import clear_session_cookies
from berth_frontend.web.templating import is_htmx, render

ERROR_HEADER = "X-Berth-Error"
TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Access denied",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Check your input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


class LoginRequired(BerthError):
    status_code = 401
    code = "login_required"


def safe_next(target: str | None, default: str = "/panel") -> str:
    """A local panel or admin path to return to after signing in; anything else: default."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or "\\" in target:
        return default
    if parts.path.startswith("//"):
        return default
    if not (parts.path in ("/panel", "/admin") or parts.path.startswith(("/panel/", "/admin/"))):
        return default
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _page_of(request: Request) -> str:
    """The page the person is on: for htmx, the browser's URL; a partial's own page else."""
    if is_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        if current.path:
            return f"{current.path}?{current.query}" if current.query else current.path
    path, query = request.url.path, request.url.query
    for partials, page in (("/admin/partials", "/admin"), ("/partials", "/panel")):
        if path == partials or path.startswith(partials + "/"):
            path = page + path[len(partials) :]
            break
    return f"{path}?{query}" if query else path


def login_redirect(request: Request) -> Response:
    target = "/login?" + urlencode({"next": safe_next(_page_of(request))})
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(target, status_code=303)
    return error_page(request, 401, "Your session has ended. Please sign in again.")


def error_page(request: Request, status: int, message: str) -> Response:
    headers = {ERROR_HEADER: quote(message[:300])}
    if is_htmx(request):
        return Response(message, status_code=status, media_type="text/plain", headers=headers)
    return render(
        request,
        "public/error.html",
        {"status": status, "title": TITLES.get(status, "Error"), "message": message},
        status_code=status,
        headers=headers,
    )


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(BerthError)
    async def _berth(request: Request, exc: BerthError) -> Response:
        response = error_page(request, exc.status_code, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:  # the token was refused: the session is over
            clear_session_cookies(request)
            return login_redirect(request)
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(ServiceDown)
    async def _down(request: Request, exc: ServiceDown) -> Response:
        message = f"{exc.label} is unavailable right now. Please try again in a moment."
        response = error_page(request, 503, message)
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "There is nothing at this address.", 405: "Method not allowed."}.get(
            exc.status_code, str(exc.detail)
        )
        return error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _: RequestValidationError) -> Response:
        return error_page(request, 422, "The request was not valid.")

    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def _outage(request: Request, exc: Exception) -> Response:
        logger.warning("dependency unavailable: {}", type(exc).__name__)
        return error_page(request, 503, "A backing service is unavailable; retry shortly.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.opt(exception=exc).error("unhandled error")
        return error_page(request, 500, "Something went wrong on our side.")
