"""Public pages: landing, sign-in and sign-out, sign-up with email verification, password reset,
and the error pages Traefik shows for refused admin navigations."""

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import FileResponse
from starlette.responses import RedirectResponse, Response

from berth_frontend.public import service
from berth_frontend.web.access import MaybeViewer, public_router
from berth_frontend.web.backends import ApiError, Section, ServiceDown, section
from berth_frontend.web.errors import error_page, safe_next
from berth_frontend.web.forms import FormData, read_form
from berth_frontend.web.session import (
    REFRESH_COOKIE,
    caller_for,
    clear_session_cookies,
    set_session_cookies,
)
from berth_frontend.web.static import STATIC_DIR
from berth_frontend.web.templating import is_htmx, render

router = public_router()  # every page here is for visitors: no sign-in

PASSWORD_FIELDS = ("password", "password_confirm", "new_password")
ERROR_PAGES = {
    401: "Please sign in to continue.",
    403: "You do not have access to this area.",
    404: "There is nothing at this address.",
    429: "Too many requests. Please wait a moment and try again.",
    500: "Something went wrong on our side.",
    502: "A service did not answer properly. Please try again in a moment.",
    503: "This part of Berth is temporarily unavailable. Please try again in a moment.",
    504: "A service took too long to answer. Please try again in a moment.",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _retry_text(exc: ApiError) -> str:
    if exc.retry_after:
        minutes = max(1, round(exc.retry_after / 60))
        return f" Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
    return " Try again later."


@router.get("/")
async def landing(request: Request, viewer: MaybeViewer) -> Response:
    caller = viewer.caller if viewer else caller_for(request)
    try:
        plans = await section(service.plans_on_sale(request.app.state.backends, caller))
    except ApiError as exc:  # 401: billing shows prices to signed-in people only
        plans = Section(error=exc)
    need_sign_in = plans.error is not None and plans.error.status in (401, 403)
    context = {"plans": plans, "plans_need_sign_in": need_sign_in, "viewer": viewer}
    return render(request, "public/landing.html", context)


# --- sign in / out ---------------------------------------------------------------------------


def _login_page(request: Request, form: FormData, status: int = 200, **extra) -> Response:
    context = {"notice": None, "unverified": False, "verify_url": "", **extra}
    return render(request, "public/login.html", {**form.context(), **context}, status_code=status)


@router.get("/login")
async def login_page(request: Request, viewer: MaybeViewer) -> Response:
    query = request.query_params
    if viewer is not None:
        # still signed in, or the refresh token renewed an expired access token
        return _see_other(safe_next(query.get("next")))
    form = FormData({"email": query.get("email", "")[:254], "next": query.get("next", "")})
    notice = None
    if "verified" in query:
        notice = "Your email is verified. Sign in to continue."
    elif "reset" in query:
        notice = "Your password has been changed. Sign in with the new one."
    elif "signed_out" in query:
        notice = "You have been signed out."
    return _login_page(request, form, notice=notice)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request, raw=PASSWORD_FIELDS)
    email = form.require("email", "Enter your email.")
    password = form.require("password", "Enter your password.")
    if not form.ok:
        return _login_page(request, form, 400)
    sessions = request.app.state.sessions
    try:
        pair = await sessions.login(email, password, caller_for(request))
    except ServiceDown:
        form.errors["_"] = "Signing in is unavailable right now. Please try again in a moment."
        return _login_page(request, form, 503)
    except ApiError as exc:
        if exc.status == 429:
            form.errors["_"] = "Too many failed attempts." + _retry_text(exc)
            return _login_page(request, form, 429)
        if "not verified" in exc.message:
            return _login_page(request, form, 400, unverified=True, verify_url=_verify_url(email))
        if "blocked" in exc.message:
            form.errors["_"] = "This account is blocked. Contact support."
            return _login_page(request, form, 403)
        form.errors["_"] = "Invalid email or password."
        return _login_page(request, form, 400)
    set_session_cookies(request, pair, request.app.state.settings)
    return _see_other(safe_next(form.get("next")))


@router.post("/logout")
async def logout(request: Request) -> Response:
    refresh_token = request.cookies.get(request.app.state.settings.cookie_name(REFRESH_COOKIE))
    if refresh_token:
        try:
            await request.app.state.sessions.revoke(refresh_token, caller_for(request))
        except (ApiError, ServiceDown):
            pass  # the cookies go anyway; the session then ends with its refresh token
    clear_session_cookies(request)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": "/login?signed_out=1"})
    return _see_other("/login?signed_out=1")


# --- sign up and email verification ----------------------------------------------------------


def _verify_url(email: str, **flags: str) -> str:
    return "/verify-email?" + urlencode({"email": email, **flags})


@router.get("/register")
async def register_page(request: Request, viewer: MaybeViewer) -> Response:
    if viewer is not None:
        return _see_other("/panel")
    return render(request, "public/register.html", FormData({}).context())


@router.post("/register")
async def register(request: Request) -> Response:
    form = await read_form(request, raw=PASSWORD_FIELDS)
    email = form.require("email", "Enter your email.")
    password = form.require("password", "Choose a password.")
    if password and form.get("password_confirm") != password:
        form.errors["password_confirm"] = "The passwords do not match."
    if len(form.get("name")) > 120:
        form.errors["name"] = "At most 120 characters."
    status = 400
    if form.ok:
        try:
            await service.register(
                request.app.state.backends,
                caller_for(request),
                email=email,
                password=password,
                name=form.get("name"),
            )
        except ServiceDown:
            form.errors["_"] = "Sign-up is unavailable right now. Please try again in a moment."
            status = 503
        except ApiError as exc:
            if exc.code == "email_taken":
                form.errors["email"] = "This email is already registered. Sign in instead?"
            else:
                form.absorb(exc)
            status = exc.status
        else:
            return _see_other(_verify_url(email, sent="1"))
    return render(request, "public/register.html", form.context(), status_code=status)


def _verify_page(request: Request, form: FormData, status: int = 200, **extra) -> Response:
    return render(request, "public/verify.html", {**form.context(), **extra}, status_code=status)


@router.get("/verify-email")
async def verify_page(request: Request) -> Response:
    query = request.query_params
    form = FormData({"email": query.get("email", "")[:254]})
    return _verify_page(request, form, sent="sent" in query)


@router.post("/verify-email")
async def verify_email(request: Request) -> Response:
    form = await read_form(request)
    email = form.require("email", "Enter your email.")
    code = form.require("code", "Enter the 6-digit code from the email.")
    if form.ok:
        try:
            await service.verify_email(
                request.app.state.backends, caller_for(request), email=email, code=code
            )
        except ServiceDown:
            form.errors["_"] = "Verification is unavailable right now. Please try again."
            return _verify_page(request, form, 503)
        except ApiError as exc:
            if exc.status == 429:
                form.errors["_"] = "Too many attempts." + _retry_text(exc)
            elif exc.status == 422:
                form.absorb(exc)
            else:
                form.errors["code"] = exc.message
            return _verify_page(request, form, exc.status)
        return _see_other("/login?" + urlencode({"verified": "1", "email": email}))
    return _verify_page(request, form, 400)


@router.post("/verify-email/resend")
async def resend_code(request: Request) -> Response:
    form = await read_form(request)
    email = form.require("email", "Enter your email.")
    if not form.ok:
        return _verify_page(request, form, 400)
    try:
        await service.resend_code(request.app.state.backends, caller_for(request), email=email)
    except ServiceDown:
        form.errors["_"] = "Sending codes is unavailable right now. Please try again."
        return _verify_page(request, form, 503)
    except ApiError as exc:
        if exc.status == 429:
            form.errors["_"] = "A code was sent a moment ago." + _retry_text(exc)
        else:
            form.absorb(exc)
        return _verify_page(request, form, exc.status)
    return _verify_page(request, form, resent=True)


# --- password reset --------------------------------------------------------------------------


@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    form = FormData({"email": request.query_params.get("email", "")[:254]})
    return render(request, "public/forgot.html", form.context())


@router.post("/forgot-password")
async def forgot_password(request: Request) -> Response:
    form = await read_form(request)
    email = form.require("email", "Enter your email.")
    status = 400
    if form.ok:
        try:
            await service.request_reset(
                request.app.state.backends, caller_for(request), email=email
            )
        except ServiceDown:
            form.errors["_"] = "Password reset is unavailable right now. Please try again."
            status = 503
        except ApiError as exc:
            form.absorb(exc)
            status = exc.status
        else:
            return _see_other("/reset-password?" + urlencode({"email": email, "sent": "1"}))
    return render(request, "public/forgot.html", form.context(), status_code=status)


@router.get("/reset-password")
async def reset_page(request: Request) -> Response:
    query = request.query_params
    form = FormData({"email": query.get("email", "")[:254]})
    return render(request, "public/reset.html", {**form.context(), "sent": "sent" in query})


@router.post("/reset-password")
async def reset_password(request: Request) -> Response:
    form = await read_form(request, raw=PASSWORD_FIELDS)
    email = form.require("email", "Enter your email.")
    code = form.require("code", "Enter the 6-digit code from the email.")
    new_password = form.require("new_password", "Choose a new password.")
    if new_password and form.get("password_confirm") != new_password:
        form.errors["password_confirm"] = "The passwords do not match."
    status = 400
    if form.ok:
        try:
            await service.confirm_reset(
                request.app.state.backends,
                caller_for(request),
                email=email,
                code=code,
                new_password=new_password,
            )
        except ServiceDown:
            form.errors["_"] = "Password reset is unavailable right now. Please try again."
            status = 503
        except ApiError as exc:
            if exc.status == 429:
                form.errors["_"] = "Too many attempts." + _retry_text(exc)
            elif exc.status == 422:
                form.absorb(exc)
            else:
                form.errors["code"] = exc.message
            status = exc.status
        else:
            return _see_other("/login?" + urlencode({"reset": "1", "email": email}))
    return render(
        request, "public/reset.html", {**form.context(), "sent": False}, status_code=status
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "img" / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/errors/{status}")
async def error_for_status(request: Request, _viewer: MaybeViewer, status: int) -> Response:
    """The page Traefik's errors middleware shows in place of a refused navigation; it offers
    the panel to a signed-in person (the session is looked at for that), else sign-in."""
    if status not in ERROR_PAGES:
        status = 404
    return error_page(request, status, ERROR_PAGES[status])
