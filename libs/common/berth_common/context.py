"""Correlation ids carried through a request, across HTTP calls and into tasks."""

from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-Id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)


def correlation_headers() -> dict[str, str]:
    """Headers that carry the current request id to another service."""
    rid = request_id_var.get()
    return {REQUEST_ID_HEADER: rid} if rid else {}
