"""Request-level helpers of the account routers (settings and client address are in
berth_auth.deps)."""

from fastapi.responses import JSONResponse

from berth_common.errors import BerthError, error_response


def recorded_failure(exc: BerthError) -> JSONResponse:
    """Answer with the error while letting the session commit the recorded failure."""
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)
