"""One error family and one JSON error shape: {"error": {"code", "message", "details"}}."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException


class BerthError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}


class NotFound(BerthError):
    status_code = 404
    code = "not_found"


class Conflict(BerthError):
    status_code = 409
    code = "conflict"


class Unauthorized(BerthError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Authentication required", **kw: Any) -> None:
        error = kw.pop("error", "invalid_token")
        headers = kw.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", f'Bearer realm="berth", error="{error}"')
        super().__init__(message, headers=headers, **kw)


class Forbidden(BerthError):
    status_code = 403
    code = "forbidden"


class Unprocessable(BerthError):
    status_code = 422
    code = "validation_error"


class RateLimited(BerthError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str = "Too many requests", *, retry_after: int = 1, **kw: Any):
        headers = kw.pop("headers", None) or {}
        headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(message, headers=headers, details={"retry_after": retry_after}, **kw)


class ServiceUnavailable(BerthError):
    status_code = 503
    code = "service_unavailable"


class TransientError(Exception):
    """A failure worth retrying (network, broker, database outage). Tasks autoretry on it."""


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


def error_responses(*errors: type[BerthError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the expected failures of a route."""
    return {e.status_code: {"description": e.code} for e in errors}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Echoing input back could leak a password into a client log; keep location and reason.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


#: SQLSTATE classes of a server that is shutting down, starting up or cut off: 57P01
#: admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now ("the database system is
#: starting up"), 08xxx connection exceptions. asyncpg raises them as plain errors, which
#: SQLAlchemy passes on as a DBAPIError that it does not count as a disconnect.
_OUTAGE_SQLSTATES = ("57P", "08")


def database_going_or_coming(exc: DBAPIError) -> bool:
    """True when the error says the database server is restarting, not that the query failed."""
    return _sqlstate_in(exc, _OUTAGE_SQLSTATES)


#: SQLSTATEs of text the database cannot store as sent: 22021 character_not_in_repertoire (a
#: NUL byte, which PostgreSQL text never holds), 22P05 untranslatable_character. Whatever field
#: a user typed it into, it is their input that is wrong: a 422, never a 500.
_BAD_TEXT_SQLSTATES = ("22021", "22P05")


def _sqlstate_in(exc: DBAPIError, codes: tuple[str, ...]) -> bool:
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str) and code.startswith(codes):
            return True
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BerthError)
    async def _berth(_: Request, exc: BerthError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_error", "Invalid request", _clean_validation_errors(exc.errors())
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)  # every pooled connection stayed busy past the wait
    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def _outage(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("dependency unavailable: {}", type(exc).__name__)
        return error_response(
            503,
            "service_unavailable",
            "A backing service is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DBAPIError)
    async def _dbapi(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or database_going_or_coming(exc):
            return error_response(503, "service_unavailable", "Database unavailable; retry")
        if _sqlstate_in(exc, _BAD_TEXT_SQLSTATES):
            return error_response(
                422, "invalid_text", "Text must not contain NUL characters or invalid bytes"
            )
        logger.opt(exception=exc).error("database error")
        return error_response(500, "internal_error", "Internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.opt(exception=exc).error("unhandled error")
        return error_response(500, "internal_error", "Internal error")
