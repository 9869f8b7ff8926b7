"""HTTP plumbing of the OAuth endpoints: the form body, client credentials, caller address.

The endpoints read their application/x-www-form-urlencoded bodies here rather than through
FastAPI's Form(): RFC 6749 wants its own error format (invalid_request, never a 422), repeated
parameters rejected, empty values treated as absent, and the body size bounded before parsing.
"""

import base64
import binascii
from typing import TypeVar
from urllib.parse import parse_qsl, unquote_plus

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from fastapi import Request
from pydantic import BaseModel, ValidationError

from berth_auth.clients.service import ClientCredentials, ensure_single_method

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 32

FormT = TypeVar("FormT", bound=BaseModel)


async def read_form(request: Request) -> dict[str, str]:
    """The form parameters, or invalid_request for anything that is not a sane form body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise InvalidRequestError(description=f"The request body must be {FORM_CONTENT_TYPE}")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise InvalidRequestError(description="The request body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequestError(description="The request body is too large")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # includes UnicodeDecodeError
        raise InvalidRequestError(description="The request body is not a valid form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(description="A parameter is repeated")
        if "\x00" in value or "\x00" in name:
            raise InvalidRequestError(description="Parameters must not contain NUL")
        form[name] = value
    # RFC 6749 §3.1: parameters sent without a value are treated as omitted
    return {name: value for name, value in form.items() if value != ""}


def parse_form(model: type[FormT], form: dict[str, str]) -> FormT:
    try:
        return model.model_validate(form)
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise InvalidRequestError(
            description=f"Missing or invalid parameter: {', '.join(names) or 'body'}"
        ) from exc


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise InvalidClientError(
            description="Malformed Basic credentials", status_code=401
        ) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or "\x00" in decoded:
        raise InvalidClientError(description="Malformed Basic credentials", status_code=401)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64
    return unquote_plus(client_id), unquote_plus(secret)


def client_credentials(request: Request, form: dict[str, str]) -> ClientCredentials:
    """client_secret_basic, client_secret_post, or a public client's bare client_id."""
    creds = ensure_single_method(
        _basic_credentials(request), form.get("client_id"), form.get("client_secret")
    )
    for value in (creds.client_id, creds.client_secret):
        if value is not None and len(value) > 256:
            raise InvalidClientError(description="Client authentication failed", status_code=401)
    return creds
