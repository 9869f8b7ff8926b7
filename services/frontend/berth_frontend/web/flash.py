"""The one-line outcome of an action, shown above the screen it re-rendered."""

from collections.abc import Awaitable
from enum import StrEnum
from typing import Any

from berth_frontend.web.backends import ApiError, ServiceDown


class FlashKind(StrEnum):
    SUCCESS = "success"
    ERROR = "error"


def success(message: str, **extra: Any) -> dict[str, Any]:
    return {"kind": FlashKind.SUCCESS, "message": message, **extra}


def failure(message: str) -> dict[str, Any]:
    return {"kind": FlashKind.ERROR, "message": message}


def from_exception(exc: ApiError | ServiceDown) -> dict[str, Any]:
    if isinstance(exc, ServiceDown):
        return failure(f"{exc.label} is unavailable right now; nothing was changed.")
    details = exc.field_errors()
    if details:
        return failure("; ".join(f"{k}: {v}" if k != "_" else v for k, v in details.items()))
    return failure(exc.message)


async def outcome_of(call: Awaitable[Any], message: str) -> dict[str, Any]:
    """Run an action; its flash: `message`, or what the service said (401 ends the session)."""
    try:
        await call
    except ApiError as exc:
        if exc.status == 401:
            raise
        return from_exception(exc)
    except ServiceDown as exc:
        return from_exception(exc)
    return success(message)
