"""What every service's OpenAPI says about failures that no single route declares.

Two things hold for every route and are added to the generated document once, here:

- each 4xx answer is the shared error shape (`berth_common.errors.error_body`), so a route's
  declared failures (`error_responses(...)`, FastAPI's 422) describe that body, not FastAPI's
  `{"detail": ...}`;
- a route that takes a path parameter or a body may answer 400: the gateway refuses an
  ambiguous path (`invalid_path`: an encoded '/', '\\', NUL, ';' or '%', '..' segments),
  Traefik's entry point refuses such encodings itself, and a body that cannot be parsed is a
  `bad_request`;
- every route may answer 429: the gateway's per-principal (or per-address) rate limit stands
  in front of all of them.

The OAuth endpoints (`/oauth/*`) keep RFC 6749's error shape and are left as they declare.
"""

from typing import Any

from fastapi import FastAPI

ERROR_BODY = "ErrorBody"
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": ERROR_BODY,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
REQUEST_ERROR = {
    "description": "bad_request, invalid_path: an ambiguous path or a body that cannot be parsed"
}
RATE_LIMITED = {"description": "rate_limited: the gateway's rate limit (Retry-After says when)"}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def document_common_errors(app: FastAPI) -> None:
    """Make `app.openapi()` add the failures above to the document FastAPI generates."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_common_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_common_errors(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_BODY] = ERROR_BODY_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_BODY}"}}}
    for path, item in document.get("paths", {}).items():
        if path.startswith("/oauth/"):
            continue
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            takes_input = "requestBody" in operation or any(
                parameter.get("in") == "path" for parameter in operation.get("parameters", [])
            )
            if takes_input:
                responses.setdefault("400", dict(REQUEST_ERROR))
            responses.setdefault("429", dict(RATE_LIMITED))
            for status, response in responses.items():
                if status.startswith("4") and _undescribed_or_fastapis(response):
                    response["content"] = error_content
    return document


def _undescribed_or_fastapis(response: dict[str, Any]) -> bool:
    """No body declared, or FastAPI's own `{"detail": ...}` that our handlers never send."""
    content = response.get("content")
    if not content:
        return True
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")
