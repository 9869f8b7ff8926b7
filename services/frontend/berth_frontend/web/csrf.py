"""CSRF protection for every state-changing request: a signed double-submit token.

The browser holds a random nonce in an HttpOnly cookie; pages carry HMAC(secret, nonce) in
forms (`csrf_token`) and in htmx's `X-CSRF-Token` header. A forged request from another site
sends the cookie but cannot know the token. Over https the cookie is `__Host-` prefixed, so a
sibling subdomain (a customer's app) cannot plant its own nonce; Origin and Sec-Fetch-Site are
checked too, when the browser sends them.
"""

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from berth_common.errors import BerthError
from berth_frontend.web.session import _cookie_headers, _queue_cookies

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
MAX_TOKEN = 128


class CsrfRejected(BerthError):
    status_code = 403
    code = "csrf_failed"


CSRF_COOKIE = "berth_csrf"


def _sign(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token for forms on this page; sets the nonce cookie on first use."""
    settings = request.app.state.settings
    name = settings.cookie_name(CSRF_COOKIE)
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(name)
    if not nonce or len(nonce) > MAX_TOKEN:
        nonce = secrets.token_urlsafe(32)

        def build(response: Response) -> None:
            response.set_cookie(
                name, nonce, httponly=True, samesite="lax", secure=settings.secure_cookies
            )

        _queue_cookies(request, _cookie_headers(build))
    request.state.csrf_nonce = nonce
    return _sign(settings.secret_key.get_secret_value(), nonce)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return False
        host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
        if urlsplit(origin).netloc.lower() != host.lower():
            return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: unsafe methods need a valid token and a same-origin request."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise CsrfRejected("Cross-site request refused")
    settings = request.app.state.settings
    nonce = request.cookies.get(settings.cookie_name(CSRF_COOKIE))
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not nonce or not sent or len(sent) > MAX_TOKEN or len(nonce) > MAX_TOKEN:
        raise CsrfRejected("Missing security token: reload the page and try again")
    expected = _sign(settings.secret_key.get_secret_value(), nonce)
    if not hmac.compare_digest(expected, sent):
        raise CsrfRejected("Invalid security token: reload the page and try again")


CsrfChecked = Annotated[None, Depends(verify_csrf)]
